"""The browser app: index.html for every screen's URL, its static files and pinned npm libraries.

No build step: the ES modules and CSS under ``static/`` are served as they are, and the few
third-party files the app imports are served straight from ``node_modules`` (installed by
``npm ci`` from package-lock.json) through a fixed table, so no request can name any other file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web

STATIC_ROOT: Final = Path(__file__).resolve().parent / "static"
DEFAULT_NODE_MODULES: Final = Path(__file__).resolve().parents[2] / "node_modules"

CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
}

# URL name -> file inside node_modules. Only these files are reachable; add a line to serve more.
VENDOR_FILES: Final = {
    "sortable.esm.js": "sortablejs/modular/sortable.esm.js",
    "echarts.esm.min.mjs": "echarts/dist/echarts.esm.min.mjs",
    "libphonenumber-min.js": "libphonenumber-js/bundle/libphonenumber-min.js",
}

# Screens of the single-page app; the browser's router draws them from the path.
SPA_ROUTES: Final = (
    "/",
    "/login",
    "/board",
    "/board/{pipeline_id:\\d+}",
    "/deals/{deal_id:\\d+}",
    "/contacts",
    "/contacts/{contact_id:\\d+}",
    "/tasks",
    "/import",
    "/unsorted",
    "/pool",
    "/reports",
    "/stuck",
    "/admin",
    "/admin/{section:[a-z-]+}",
)

# ECharts writes inline styles into its tooltips; scripts stay same-origin only.
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; media-src 'self' data:; connect-src 'self' ws: wss:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _file_response(path: Path) -> web.FileResponse:
    response = web.FileResponse(path)
    response.content_type = CONTENT_TYPES[path.suffix].split(";")[0]
    if "charset" in CONTENT_TYPES[path.suffix]:
        response.charset = "utf-8"
    # Revalidate every time (cheap with ETag/Last-Modified) so a deploy is seen at once.
    response.headers["Cache-Control"] = "no-cache"
    response.headers.update(_SECURITY_HEADERS)
    return response


def resolve_static(root: Path, relative: str) -> Path | None:
    """Return the file ``relative`` names under ``root``, or None if it is outside or unknown."""
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    base = root.resolve()
    candidate = base.joinpath(*parts).resolve()
    if not candidate.is_relative_to(base) or candidate.suffix not in CONTENT_TYPES:
        return None
    return candidate if candidate.is_file() else None


def ui_routes(
    static_root: Path = STATIC_ROOT, node_modules: Path = DEFAULT_NODE_MODULES
) -> list[web.RouteDef]:
    """Routes of the browser app: SPA screens, ``/static/...`` and ``/vendor/<name>``."""
    index = static_root / "index.html"

    async def spa(_request: web.Request) -> web.StreamResponse:
        return _file_response(index)

    async def static(request: web.Request) -> web.StreamResponse:
        path = resolve_static(static_root, request.match_info["path"])
        if path is None:
            raise web.HTTPNotFound(text="no such file")
        return _file_response(path)

    async def vendor(request: web.Request) -> web.StreamResponse:
        relative = VENDOR_FILES.get(request.match_info["name"])
        if relative is None:
            raise web.HTTPNotFound(text="no such library file")
        path = node_modules / relative
        if not path.is_file():
            raise web.HTTPServiceUnavailable(
                text=f"{relative} is missing: run `npm ci` in the project root"
            )
        return _file_response(path)

    routes = [web.get(route, spa) for route in SPA_ROUTES]
    routes.append(web.get("/static/{path:.+}", static))
    routes.append(web.get("/vendor/{name}", vendor))
    return routes

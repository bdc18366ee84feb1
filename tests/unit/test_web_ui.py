"""The browser app's file serving: SPA routes, content types, pinned npm files, no traversal."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crmlite.web.ui import STATIC_ROOT, VENDOR_FILES, resolve_static, ui_routes


@pytest.fixture
def node_modules(tmp_path: Path) -> Path:
    """A fake node_modules holding the whitelisted files and one file that must stay hidden."""
    root = tmp_path / "node_modules"
    for relative in VENDOR_FILES.values():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"export default '{relative}';\n", encoding="utf-8")
    (root / "secret.js").write_text("nope", encoding="utf-8")
    (tmp_path / "private.txt").write_text("secret", encoding="utf-8")
    return root


@pytest.fixture
async def http(node_modules: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    app = web.Application()
    app.add_routes(ui_routes(node_modules=node_modules))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield session, str(server.make_url(""))
    await server.close()


@pytest.mark.parametrize(
    "path",
    ["/", "/login", "/board", "/board/3", "/deals/42", "/contacts/7", "/reports", "/admin/rules"],
)
async def test_every_screen_url_answers_the_app_page(
    http: tuple[aiohttp.ClientSession, str], path: str
) -> None:
    session, base = http
    async with session.get(base + path) as response:
        body = await response.text()
        assert response.status == 200
        assert response.content_type == "text/html"
        assert '<script type="module" src="/static/js/app.js">' in body
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/js/app.js", "text/javascript"),
        ("/static/css/app.css", "text/css"),
        ("/static/i18n/zh-CN.json", "application/json"),
        ("/vendor/sortable.esm.js", "text/javascript"),
        ("/vendor/echarts.esm.min.mjs", "text/javascript"),
    ],
)
async def test_files_carry_their_content_type(
    http: tuple[aiohttp.ClientSession, str], path: str, content_type: str
) -> None:
    session, base = http
    async with session.get(base + path) as response:
        assert response.status == 200
        assert response.content_type == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../ui.py",
        "/static/%2e%2e/ui.py",
        "/static/js/%2e%2e/%2e%2e/ui.py",
        "/static/..%2fui.py",
        "/static/js/../../../../../etc/passwd",
        "/static/.hidden.js",
        "/vendor/secret.js",
        "/vendor/..%2f..%2fprivate.txt",
        "/vendor/sortablejs%2fmodular%2fsortable.esm.js",
        "/static/index.htm",
    ],
)
async def test_nothing_outside_the_app_files_is_served(
    http: tuple[aiohttp.ClientSession, str], path: str
) -> None:
    session, base = http
    async with session.get(base + path) as response:
        body = await response.text()
    assert response.status == 404, (path, body[:80])
    assert "import" not in body
    assert "secret" not in body


def test_resolve_static_refuses_escapes_and_unknown_types() -> None:
    assert resolve_static(STATIC_ROOT, "js/app.js") == STATIC_ROOT / "js" / "app.js"
    for bad in ("../ui.py", "js/../../ui.py", "/etc/passwd", "js//app.js", "js\\app.js", ""):
        assert resolve_static(STATIC_ROOT, bad) is None, bad
    assert resolve_static(STATIC_ROOT.parent, "ui.py") is None  # .py is not a served type


def test_every_vendor_file_is_installed_by_npm() -> None:
    """The table names files package-lock.json really installs (skipped before `npm ci`)."""
    node_modules = Path(__file__).resolve().parents[2] / "node_modules"
    if not node_modules.is_dir():
        pytest.skip("run `npm ci` (make install) first")
    for relative in VENDOR_FILES.values():
        assert (node_modules / relative).is_file(), relative


def test_every_module_of_the_app_parses() -> None:
    """A syntax error in one ES module blanks the whole app: catch it without a browser."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    modules = sorted((STATIC_ROOT / "js").rglob("*.js"))
    assert modules
    for module in modules:
        result = subprocess.run(  # noqa: S603 - a fixed program on the project's own files
            [node, "--experimental-default-type=module", "--check", str(module)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{module.name}: {result.stderr}"


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    def placeholders(text: str) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", text))  # the pattern t() in i18n.js fills

    catalogs = {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in (STATIC_ROOT / "i18n").glob("*.json")
    }
    assert {"en", "zh-CN", "ru", "fa"} <= set(catalogs)
    # The plural categories Intl.PluralRules picks in each language (CLDR); "other" is the fallback.
    plural_forms = {
        "en": {"one", "other"},
        "ru": {"one", "few", "many", "other"},
        "fa": {"other"},
        "zh-CN": {"other"},
    }
    cldr_forms = {"zero", "one", "two", "few", "many", "other"}
    english = catalogs["en"]
    for name, catalog in catalogs.items():
        assert set(catalog) == set(english), (
            f"{name}: missing {sorted(set(english) - set(catalog))}, "
            f"extra {sorted(set(catalog) - set(english))}"
        )
        for key, source in english.items():
            text = catalog[key]
            if isinstance(source, dict):
                assert isinstance(text, dict), f"{name}:{key} must be plural forms"
                assert plural_forms.get(name, {"other"}) <= set(text) <= cldr_forms, (
                    f"{name}:{key} has forms {sorted(text)}"
                )
                wanted = placeholders(source["other"])
                forms = list(text.items())
            else:
                assert isinstance(text, str), f"{name}:{key} must be a string"
                wanted = placeholders(source)
                forms = [("text", text)]
            for form, value in forms:
                assert isinstance(value, str), f"{name}:{key}.{form} must be a string"
                assert value.strip(), f"{name}:{key}.{form} is empty"
                found = placeholders(value)
                assert found == wanted, (
                    f"{name}:{key}.{form} has {sorted(found)}, not {sorted(wanted)}"
                )

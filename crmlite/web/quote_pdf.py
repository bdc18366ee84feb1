"""PDF quotes through WeasyPrint, and a clear answer when the machine cannot make them.

WeasyPrint needs system libraries (Pango, HarfBuzz, fontconfig) that ``pip`` cannot install,
and a quote in Chinese or Persian needs fonts with those scripts, or it prints empty boxes.
``scripts/install-pdf-deps`` installs both (``make install``, ``make test``). On a machine
without them the HTML view still works and the PDF route answers 503 ``pdf-unavailable`` naming
what is missing. The library is imported on first use, not at start: it takes a moment to load
and most requests never need it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass, field
from types import ModuleType

from aiohttp import web

from crmlite.web.errors import HttpProblem

INSTALL_HINT = "run scripts/install-pdf-deps (as make install does)"
# fontconfig's language tag for each quote locale, and the Debian package that covers it.
_FONT_NEEDS = {
    "zh-CN": ("zh-cn", "fonts-noto-cjk"),
    "fa": ("fa", "fonts-noto-core"),
    "ru": ("ru", "fonts-dejavu-core"),
    "en": ("en", "fonts-dejavu-core"),
}


@dataclass(slots=True)
class PdfRenderer:
    """Loads WeasyPrint once and remembers which languages have fonts."""

    library: ModuleType | None = None
    fonts: dict[str, str | None] = field(default_factory=dict)
    """Locale -> what is missing to print it (None: nothing)."""

    def load(self) -> ModuleType:
        """The weasyprint module, or 503 saying what is missing."""
        if self.library is None:
            try:
                import weasyprint  # loaded on first use, see the module docstring
            except ImportError as err:
                missing = f"the Python package weasyprint is not installed ({err})"
                raise unavailable(missing) from err
            except OSError as err:
                # Its cffi bindings could not open Pango or one of its libraries.
                raise unavailable(f"a system library WeasyPrint needs is missing: {err}") from err
            self.library = weasyprint
        return self.library

    def check_fonts(self, locale: str) -> None:
        """503 when no installed font covers the quote's language."""
        if locale not in self.fonts:
            self.fonts[locale] = _missing_font(locale)
        missing = self.fonts[locale]
        if missing:
            raise unavailable(missing)

    def render(self, html: str, locale: str) -> bytes:
        """The PDF of ``html`` (blocking: run it in a thread)."""
        library = self.load()
        self.check_fonts(locale)
        pdf: bytes = library.HTML(string=html).write_pdf()
        return pdf


PDF_RENDERER: web.AppKey[PdfRenderer] = web.AppKey("quote_pdf_renderer")


async def render_pdf(app: web.Application, html: str, locale: str) -> bytes:
    """Render in a worker thread: a page takes WeasyPrint a good part of a second."""
    return await asyncio.to_thread(app[PDF_RENDERER].render, html, locale)


def unavailable(what: str) -> HttpProblem:
    return HttpProblem(
        503,
        "pdf-unavailable",
        "PDF unavailable",
        f"this server cannot make PDF files: {what}; {INSTALL_HINT}. The printable HTML view "
        "works without it.",
    )


def _missing_font(locale: str) -> str | None:
    """What keeps ``locale`` from printing: fontconfig itself, or a font for its script."""
    lang, package = _FONT_NEEDS.get(locale, ("en", "fonts-dejavu-core"))
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return "fontconfig's fc-list is not installed (Debian package fontconfig)"
    found = subprocess.run(  # noqa: S603 - a fixed program and argument list
        [fc_list, f":lang={lang}", "family"], capture_output=True, text=True, check=False
    )
    if found.stdout.strip():
        return None
    return f"no font for {locale} is installed (Debian package {package})"

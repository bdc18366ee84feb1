"""Browser tests: the real service on a real port, driven by Debian's headless Chromium.

The service (``cti.app.create_app`` over a migrated SQLite file) runs in a thread of its own with
its own event loop, so the tests can use Playwright's synchronous API; one browser serves the
whole session and each test gets a fresh browser context (cookies, storage). Tests seed what
they need through the public REST API with the seeded users' bearer tokens.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from crmlite.db.engine import create_engine
from crmlite.db.migrate import upgrade
from cti.app import create_app
from cti.settings import Settings
from cti.sim import PbxSimulator
from cti.sim.builder import Step
from tests.support.api import DEFAULT_PASSWORD, ApiClient, ApiHarness, ApiResponse, start_api

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Seeded people: login -> (role, display name, extension).
PEOPLE = {
    "admin": ("admin", "Ada Admin", None),
    "helen": ("head", "Helen Head", None),
    "anna": ("seller", "Anna Seller", "101"),
    "boris": ("seller", "Boris Seller", "102"),
    "chen": ("seller", "Chen Seller", "103"),
}
T = TypeVar("T")
# CI machines are shared and slow at times: wait up to 10 s for what a page should show.
expect.set_options(timeout=10_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an ``e2e`` test (``-m "not e2e"`` skips the browser)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


class SyncApi:
    """A blocking face of one user's API client, for seeding from the (synchronous) tests."""

    def __init__(self, server: LiveServer, client: ApiClient) -> None:
        self.server = server
        self.client = client

    def request(self, method: str, path: str, **options: Any) -> ApiResponse:
        return self.server.run(self.client.request(method, path, **options))

    def call(
        self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **options: Any
    ) -> Any:
        """Send a request that must succeed; answer its JSON body."""
        response = self.request(method, path, **options)
        assert response.status in expect, f"{method} {path}: {response.status} {response.text}"
        return response.json() if response.text else None

    def get(self, path: str, **options: Any) -> Any:
        return self.call("GET", path, **options)

    def post(self, path: str, **options: Any) -> Any:
        return self.call("POST", path, **options)


@dataclass
class Person:
    login: str
    id: int
    role: str
    name: str
    extension: str | None
    api: SyncApi
    password: str = DEFAULT_PASSWORD


class LiveServer:
    """The service in a background thread with its own event loop, fed by the PBX simulator.

    The service is configured with the simulator as its PBX, so calls go the product's whole way:
    AMI over TCP, the call model, the call-to-CRM rules, the pops.
    """

    def __init__(self, database_url: str, settings: dict[str, Any] | None = None) -> None:
        self.database_url = database_url
        self.settings = settings  # extra configuration sections, e.g. {"pool": {"ring": "queue"}}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="e2e-server", daemon=True)
        self.harness: ApiHarness | None = None
        self.sim: PbxSimulator | None = None
        self.people: dict[str, Person] = {}
        # login -> cookies of a browser session opened through the login form, for reuse.
        self.sessions: dict[str, Any] = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        assert self.harness is not None
        return self.harness.url("").rstrip("/")

    def start(self) -> None:
        self.thread.start()
        self.run(self._start(), timeout=120)

    async def _start(self) -> None:
        engine = create_engine(self.database_url)
        await upgrade(engine)
        await engine.dispose()
        self.sim = PbxSimulator(port=0)
        await self.sim.start()
        pbx = self.sim.client_settings()

        def with_simulated_pbx(settings: Settings) -> web.Application:
            return create_app(settings.model_copy(update={"pbx": (pbx,)}))

        self.harness = await start_api(
            self.database_url, settings=self.settings, app_factory=with_simulated_pbx
        )
        for login, (role, name, extension) in PEOPLE.items():
            identities = [("extension", extension)] if extension else []
            user = await self.harness.create_user(
                role,
                login=login,
                password=DEFAULT_PASSWORD,
                display_name=name,
                identities=identities,
            )
            client = await self.harness.client(user)
            self.people[login] = Person(
                login, user.id, role, name, extension, SyncApi(self, client)
            )

    def stop(self) -> None:
        if self.harness is not None:
            self.run(self.harness.close())
        if self.sim is not None:
            self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("e2e") / "e2e.db"
    live = LiveServer(f"sqlite+aiosqlite:///{path}")
    live.start()
    yield live
    live.stop()


class SimulatedPbx:
    """The simulator the service consumes; the test sends each phase of a call when it wants."""

    def __init__(self, server: LiveServer) -> None:
        assert server.sim is not None
        self.server = server
        self.sim = server.sim

    def wait_until_consumed(self, timeout_s: float = 20.0) -> None:
        """Wait until the service is logged in to the simulator and consumes its events."""
        admin = self.server.people["admin"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            links = admin.api.get("/api/v1/pbx")["items"]
            if links and all(link["connected"] and link["consuming"] for link in links):
                return
            time.sleep(0.1)
        raise AssertionError(f"the service never consumed the simulated PBX: {links}")

    def send(self, steps: list[Step]) -> None:
        """Send these steps' events now, in order (the test decides when each phase happens)."""

        async def send_all() -> None:
            assert self.sim is not None
            for step in steps:
                self.sim.send_events(step.events)

        self.server.run(send_all())


@pytest.fixture(scope="package")
def pbx(server: LiveServer) -> SimulatedPbx:
    simulated = SimulatedPbx(server)
    simulated.wait_until_consumed()
    return simulated


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, which would stop every asyncio test collected after the browser tests.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: `make browser` installs Debian's package")
        pytest.skip("Debian's chromium is not installed: run scripts/install-chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(
        locale="en-US", timezone_id="Europe/Moscow", viewport={"width": 1280, "height": 800}
    )
    made.set_default_timeout(10_000)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab whose uncaught script errors fail the test."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture
def second_page(browser: Browser) -> Iterator[Page]:
    """A second person's tab, in a browser context of its own."""
    made = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    made.set_default_timeout(10_000)
    yield made.new_page()
    made.close()


def log_in(
    page: Page, server: LiveServer, who: Person, path: str = "/board", *, fresh: bool = False
) -> None:
    """Log in through the login form and wait for the app to show the user.

    The form is filled once per person; later tests reuse that browser session's cookies (the
    password hash is slow on purpose). ``fresh`` always uses the form and keeps its session apart.
    """
    cookies = None if fresh else server.sessions.get(who.login)
    if cookies:
        page.context.add_cookies(cookies)
        page.goto(server.url + path)
        expect(page.get_by_test_id("whoami")).to_contain_text(who.name)
        return
    page.goto(server.url + path)
    page.get_by_label("User name").fill(who.login)
    page.get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(who.name)
    if not fresh:
        server.sessions[who.login] = page.context.cookies()


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot under artifacts/e2e (not committed) and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

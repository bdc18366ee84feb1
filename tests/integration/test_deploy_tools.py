"""compose.yaml as Compose renders it (`docker compose config`), the Caddyfile as Caddy adapts it.

Neither needs a Docker daemon, a registry or the network. `make deploy-tools` installs them from
Debian; in CI (CTI_TEST_REQUIRE_SERVICES=1) a missing tool fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REQUIRE_SERVICES
from tests.support.deploy import (
    APP_PORT,
    CADDYFILE,
    COMPOSE_FILE,
    ROOT,
    Proxy,
    app_services,
    assert_proxy,
    assert_stack,
)


def _missing(tool: str) -> None:
    message = f"{tool} is missing: `make deploy-tools` installs it"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def _runs(argv: list[str]) -> bool:
    try:
        found = subprocess.run(  # noqa: S603 - fixed programs
            argv, capture_output=True, check=False, timeout=60
        )
        return found.returncode == 0
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def compose_command() -> list[str]:
    """`docker compose` (v2) where the plugin is installed, else Debian's docker-compose."""
    if _runs(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    _missing("docker compose (or docker-compose)")
    raise AssertionError("unreachable")


def _render(
    command: list[str], tmp_path: Path, **variables: str
) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "test.env"  # never the developer's own .env
    env_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()), encoding="utf-8")
    version = subprocess.run(  # noqa: S603 - the Compose found on PATH, fixed arguments
        [*command, "version", "--short"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    # Compose v2 answers JSON; v1 (Debian bookworm's docker-compose 1.29) only YAML.
    output = ["--format", "json"] if not version.startswith("1.") else []
    return subprocess.run(  # noqa: S603 - the Compose found on PATH, the project's own file
        [
            *command,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE_FILE),
            "config",
            *output,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=_clean_environment(),
    )


def _clean_environment() -> dict[str, str]:
    """This process's environment without what would change the rendering (COMPOSE_*, ...)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COMPOSE_", "POSTGRES_", "CTI_", "DOCKER_HOST"))
    }


def test_compose_renders_the_deployment(compose_command: list[str], tmp_path: Path) -> None:
    result = _render(
        compose_command, tmp_path, POSTGRES_PASSWORD="test-only", COMPOSE_PROJECT_NAME="cti"
    )
    assert result.returncode == 0, result.stderr
    rendered: dict[str, Any] = yaml.safe_load(result.stdout)  # JSON is YAML too
    assert_stack(rendered)
    app = rendered["services"]["app1"]
    # Interpolated from the environment file, so the secret never sits in compose.yaml.
    url = app["environment"]["CTI_DATABASE_URL"]
    assert url == "postgresql+asyncpg://cti:test-only@postgres:5432/cti"
    assert rendered["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "test-only"


def test_compose_refuses_to_render_without_the_database_password(
    compose_command: list[str], tmp_path: Path
) -> None:
    result = _render(compose_command, tmp_path, COMPOSE_PROJECT_NAME="cti")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def _caddy_adapt(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    caddy = shutil.which("caddy")
    if caddy is None:
        _missing("caddy")
        raise AssertionError("unreachable")
    path = tmp_path / "Caddyfile"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(  # noqa: S603 - caddy on the project's own Caddyfile
        [caddy, "adapt", "--config", str(path), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=_clean_environment(),
    )


def _adapt(text: str, tmp_path: Path) -> dict[str, Any]:
    result = _caddy_adapt(text, tmp_path)
    assert result.returncode == 0, result.stderr
    adapted: dict[str, Any] = json.loads(result.stdout)
    return adapted


def _handlers(routes: list[dict[str, Any]]) -> list[tuple[list[str], dict[str, Any]]]:
    """Every handler with the paths its route (and the routes around it) matched."""
    found = []
    for route in routes:
        paths = [p for m in route.get("match", []) for p in m.get("path", [])]
        for handler in route.get("handle", []):
            if handler["handler"] == "subroute":
                found += [(paths + inner, h) for inner, h in _handlers(handler["routes"])]
            else:
                found.append((paths, handler))
    return found


def _proxy(adapted: dict[str, Any]) -> Proxy:
    (server,) = adapted["apps"]["http"]["servers"].values()
    handlers = _handlers(server["routes"])
    (proxy,) = [h for _, h in handlers if h["handler"] == "reverse_proxy"]
    blocked = [
        path
        for paths, h in handlers
        if h["handler"] == "static_response" and h.get("status_code") == 404
        for path in paths
    ]
    return Proxy(
        upstreams=tuple(u["dial"] for u in proxy["upstreams"]),
        policy=proxy.get("load_balancing", {}).get("selection_policy", {}).get("policy", "random"),
        health_uri=proxy.get("health_checks", {}).get("active", {}).get("uri", ""),
        blocked=tuple(blocked),
    )


def test_caddy_adapts_the_proxy_config_to_both_instances(tmp_path: Path) -> None:
    adapted = _adapt(CADDYFILE.read_text(encoding="utf-8"), tmp_path)
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert_proxy(_proxy(adapted), app_services(compose))
    (server,) = adapted["apps"]["http"]["servers"].values()
    assert server["listen"] == [":80"]
    assert adapted["admin"]["listen"] == "localhost:2019"
    (proxy,) = [h for _, h in _handlers(server["routes"]) if h["handler"] == "reverse_proxy"]
    assert proxy["flush_interval"] == -1
    assert all(u["dial"].endswith(f":{APP_PORT}") for u in proxy["upstreams"])


def test_caddy_rejects_a_broken_proxy_config(tmp_path: Path) -> None:
    text = CADDYFILE.read_text(encoding="utf-8").replace("lb_policy round_robin", "lb_policy")
    result = _caddy_adapt(text, tmp_path)
    assert result.returncode != 0
    assert "lb_policy" in result.stderr

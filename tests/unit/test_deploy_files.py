"""compose.yaml, the Caddyfile and the .env example, read as files (no Docker, no Caddy needed)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from cti.settings import load_settings
from tests.support.deploy import (
    CADDYFILE,
    COMPOSE_FILE,
    ROOT,
    app_services,
    assert_proxy,
    assert_stack,
    read_caddyfile,
)


def _compose() -> dict[str, Any]:
    # safe_load resolves the `<<: *app` merge keys as Compose does.
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def test_compose_file_has_the_deployment_shape() -> None:
    assert_stack(_compose())


def test_caddyfile_balances_both_instances_without_stickiness() -> None:
    proxy = read_caddyfile(CADDYFILE.read_text(encoding="utf-8"))
    assert_proxy(proxy, app_services(_compose()))


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda c: c["services"].pop("app2"), "two app instances"),
        (
            lambda c: c["services"]["app1"]["depends_on"]["migrate"].update(
                condition="service_started"
            ),
            "two app instances",
        ),
        (lambda c: c["services"]["migrate"].update(restart="on-failure"), "one-shot"),
        (lambda c: c["services"]["app2"].pop("healthcheck"), "health check"),
        (lambda c: c["services"]["app1"].update(ports=["8081:8080"]), "through the proxy"),
        (lambda c: c.pop("volumes"), "undeclared"),
        (lambda c: c["services"]["redis"].pop("healthcheck"), "redis has a health check"),
    ],
)
def test_stack_check_catches_a_broken_file(change: Any, complaint: str) -> None:
    compose = copy.deepcopy(_compose())
    change(compose)
    with pytest.raises(AssertionError, match=complaint):
        assert_stack(compose)


def test_proxy_check_catches_a_missing_instance_and_stickiness() -> None:
    text = CADDYFILE.read_text(encoding="utf-8")
    apps = app_services(_compose())
    with pytest.raises(AssertionError):
        assert_proxy(read_caddyfile(text.replace(" app2:8080", "")), apps)
    with pytest.raises(AssertionError):
        assert_proxy(read_caddyfile(text.replace("round_robin", "ip_hash")), apps)


def test_no_secret_is_written_in_the_committed_files() -> None:
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    # The password is required from the environment, never defaulted.
    assert re.findall(r"\$\{POSTGRES_PASSWORD[^}]*\}", raw)
    assert all(":?" in use for use in re.findall(r"\$\{POSTGRES_PASSWORD[^}]*\}", raw))
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert example["POSTGRES_PASSWORD"] == ""
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored
    assert ".env" in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()


def test_image_health_check_and_proxy_probe_ask_liveness() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :]
    assert "/healthz" in healthcheck.split("CMD [", 1)[1].split("\n", 1)[0]
    assert read_caddyfile(CADDYFILE.read_text(encoding="utf-8")).health_uri == "/healthz"


def test_compose_configuration_is_valid_with_the_environment_compose_gives() -> None:
    app = _compose()["services"]["app1"]
    environment = {
        name: re.sub(r"\$\{(\w+)(:-([^}]*))?[^}]*\}", lambda m: m.group(3) or "secret", str(value))
        for name, value in app["environment"].items()
    }
    assert environment["CTI_DATABASE_URL"] == "postgresql+asyncpg://cti:secret@postgres:5432/cti"
    settings = load_settings(ROOT / "config" / "cti.compose.toml", environ=environment)
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.redis.url == "redis://redis:6379/0"
    assert settings.server.host == "0.0.0.0"  # noqa: S104 - inside its container
    assert settings.logging.format == "json"
    assert settings.server.secure_cookies is False
    assert settings.pbx == ()  # the committed file holds no PBX, so no secret

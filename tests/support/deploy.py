"""What compose.yaml and the Caddyfile must hold, checked on any rendering of them.

The same invariants are asserted on the raw files (read with PyYAML) and on what a Compose
implementation renders (``docker compose config``), so a file Compose reads differently from how
it looks fails too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
CADDYFILE = ROOT / "config" / "caddy" / "Caddyfile"
APP_PORT = 8080
STICKY_POLICIES = {"ip_hash", "client_ip_hash", "uri_hash", "header", "cookie", "query"}


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume" or "bind"
    source: str
    target: str
    read_only: bool


def mounts(service: dict[str, Any]) -> list[Mount]:
    """A service's mounts, from the short (``src:dst:ro``) or the long (mapping) syntax."""
    found = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            found.append(
                Mount(
                    entry["type"],
                    entry["source"],
                    entry["target"],
                    bool(entry.get("read_only", False)),
                )
            )
            continue
        # A raw file's `${VAR:-default}` holds colons of its own: read it as one word.
        source, target, *mode = re.sub(r"\$\{[^}]*\}", "$VAR", str(entry)).split(":")
        kind = "bind" if source.startswith(("/", ".", "$")) else "volume"
        found.append(Mount(kind, source, target, "ro" in mode))
    return found


def healthcheck_command(service: dict[str, Any]) -> str:
    check = service.get("healthcheck") or {}
    test = check.get("test", [])
    return " ".join(test) if isinstance(test, list) else str(test)


def condition(service: dict[str, Any], dependency: str) -> str | None:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return "service_started" if dependency in depends else None
    entry = depends.get(dependency)
    return None if entry is None else str(entry.get("condition", "service_started"))


def app_services(compose: dict[str, Any]) -> list[str]:
    """The instances of the service: whatever starts only once the migration succeeded."""
    return sorted(
        name
        for name, service in compose["services"].items()
        if condition(service, "migrate") == "service_completed_successfully"
    )


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(word) for word in command]


def assert_stack(compose: dict[str, Any]) -> None:
    """The deployment's shape: one-shot migration, two instances, health checks, named volumes."""
    services: dict[str, dict[str, Any]] = compose["services"]
    assert {"postgres", "redis", "migrate", "proxy"} <= services.keys()

    apps = app_services(compose)
    assert apps == ["app1", "app2"], f"two app instances behind the proxy, got {apps}"

    migrate = services["migrate"]
    assert command_words(migrate) == ["cti", "migrate"]
    assert str(migrate.get("restart", "no")) == "no", "a one-shot must not be restarted"
    assert condition(migrate, "postgres") == "service_healthy"

    for name in apps:
        app = services[name]
        assert condition(app, "postgres") == "service_healthy", name
        assert condition(app, "redis") == "service_healthy", name
        assert command_words(app) == [], f"{name} runs the image's `cti serve`"
        assert "/readyz" in healthcheck_command(app), f"{name}'s health check asks /readyz"
        assert not app.get("ports"), f"{name} is reached through the proxy only"
        environment = app["environment"]
        assert str(environment["CTI_DATABASE_URL"]).startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in str(environment["CTI_DATABASE_URL"])
        assert str(environment["CTI_REDIS_URL"]).startswith("redis://redis:6379/")
        assert str(environment["CTI_HOST"]) == "0.0.0.0"  # noqa: S104 - reached on its network only
        assert str(environment["CTI_PORT"]) == str(APP_PORT)
        assert str(environment["CTI_CONFIG"]) == "/etc/cti/cti.toml"
        config = [m for m in mounts(app) if m.target == "/etc/cti/cti.toml"]
        assert len(config) == 1, f"{name} mounts its configuration file"
        assert config[0].kind == "bind", name
        assert config[0].read_only, name
    # The instances differ only by name: one definition, so an upgrade cannot miss one.
    first, second = (
        {k: v for k, v in services[name].items() if k != "container_name"} for name in apps
    )
    assert first == second

    for name in ("postgres", "redis", "proxy"):
        assert healthcheck_command(services[name]), f"{name} has a health check"
        assert str(services[name].get("restart")) == "unless-stopped", name

    proxy = services["proxy"]
    for name in apps:
        assert condition(proxy, name) == "service_healthy"
    assert proxy.get("ports"), "the proxy is the only published service"
    assert any(m.target == "/etc/caddy/Caddyfile" and m.read_only for m in mounts(proxy))

    declared = set((compose.get("volumes") or {}).keys())
    used = {m.source for s in services.values() for m in mounts(s) if m.kind == "volume"}
    assert used <= declared, f"undeclared (anonymous) volumes: {used - declared}"
    data = {m.target: m.source for m in mounts(services["postgres"]) if m.kind == "volume"}
    assert "/var/lib/postgresql/data" in data, "PostgreSQL keeps its data in a named volume"
    assert any(m.kind == "volume" and m.target == "/data" for m in mounts(services["redis"]))


@dataclass(frozen=True)
class Proxy:
    upstreams: tuple[str, ...]
    policy: str
    health_uri: str
    blocked: tuple[str, ...]


def read_caddyfile(text: str) -> Proxy:
    """The reverse_proxy's upstreams and policy, and the paths answered 404, from a Caddyfile."""
    lines = [re.sub(r"(^|\s)#.*$", "", line).strip() for line in text.splitlines()]
    upstreams: tuple[str, ...] = ()
    policy = "random"  # Caddy's default
    health_uri = ""
    blocked: list[str] = []
    handled: str | None = None
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0] == "reverse_proxy":
            upstreams = tuple(w for w in words[1:] if w != "{")
        elif words[0] == "lb_policy":
            policy = words[1]
        elif words[0] == "health_uri":
            health_uri = words[1]
        elif words[0] == "handle" and len(words) > 2:
            handled = words[1]
        elif words[0] == "respond" and handled and words[-1] == "404":
            blocked.append(handled)
        elif words[0] == "}":
            handled = None
    return Proxy(upstreams, policy, health_uri, tuple(blocked))


def assert_proxy(proxy: Proxy, apps: list[str]) -> None:
    """Round-robin over exactly the app instances, no stickiness, liveness probes, no /metrics."""
    assert sorted(proxy.upstreams) == [f"{name}:{APP_PORT}" for name in apps]
    assert proxy.policy == "round_robin"
    assert proxy.policy not in STICKY_POLICIES
    assert proxy.health_uri == "/healthz"
    assert "/metrics" in proxy.blocked

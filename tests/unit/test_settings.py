"""Configuration: TOML plus CTI_* variables, validated with messages naming the bad key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from cti.settings import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).parents[2] / "config" / "cti.example.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cti.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(None, environ={})
    assert settings == Settings()
    assert settings.database.url.startswith("sqlite+aiosqlite:")
    assert settings.server.port == 8080


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[server]\nport = 9000\nsecure_cookies = true\n[phone]\ndefault_region = "cn"\n',
    )
    settings = load_settings(
        path,
        environ={
            "CTI_PORT": "9100",
            "CTI_DATABASE_URL": "postgresql+asyncpg://db/cti",
            "CTI_SERVER__SESSION_TTL_HOURS": "2",
            "CTI_LOG_FORMAT": "console",
            "UNRELATED": "x",
        },
    )
    assert settings.server.port == 9100
    assert settings.server.secure_cookies is True
    assert settings.server.session_ttl_hours == 2
    assert settings.phone.default_region == "CN"
    assert settings.database.url == "postgresql+asyncpg://db/cti"
    assert settings.logging.format == "console"


def test_cti_config_variable_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[server]\nport = 8181\n")
    assert load_settings(None, environ={"CTI_CONFIG": str(path)}).server.port == 8181


@pytest.mark.parametrize(
    ("text", "environ", "named"),
    [
        ("[server]\nport = 70000\n", {}, "server.port"),
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("[phone]\ndefault_region = 'Russia'\n", {}, "phone.default_region"),
        ("[logging]\nlevel = 'LOUD'\n", {}, "logging.level"),
        ("[[pbx]]\nhost = 'pbx1'\n", {}, "pbx.0.username"),
        ("", {"CTI_PORT": "eighty"}, "server.port"),
        ("", {"CTI_SERVER__SESSION_TTL_HOURS": "0"}, "server.session_ttl_hours"),
    ],
)
def test_bad_values_name_the_key(
    text: str, environ: dict[str, str], named: str, tmp_path: Path
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=environ)
    message = str(err.value)
    assert message.startswith(f"invalid configuration in {path}")
    assert re.search(rf"^  {re.escape(named)}: ", message, re.MULTILINE), message


def test_missing_file_and_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "absent.toml", environ={})
    broken = _write(tmp_path, "[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})


def test_example_file_loads_to_the_defaults() -> None:
    assert load_settings(EXAMPLE, environ={}) == Settings()


def _uncommented_example() -> dict[str, Any]:
    """The example with every ``#name = value`` / ``#[table]`` setting line switched on."""
    lines = [
        line[1:] if re.match(r"^#(\[|\w+ = )", line) else line
        for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
    ]
    return tomllib.loads("\n".join(lines))


def _missing(model: type[BaseModel], values: dict[str, Any], prefix: str) -> list[str]:
    missing = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        if name not in values:
            missing.append(key)
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            missing += _missing(annotation, values[name], key + ".")
    return missing


def test_example_documents_every_setting_with_a_valid_value() -> None:
    raw = _uncommented_example()
    settings = Settings.model_validate(raw)  # every documented value is a valid one
    assert len(settings.pbx) == 1
    assert len(settings.webhooks) == 1
    missing = _missing(Settings, raw, "")
    missing += _missing(type(settings.pbx[0]), raw["pbx"][0], "pbx.")
    missing += _missing(type(settings.webhooks[0]), raw["webhooks"][0], "webhooks.")
    assert missing == [], f"document these in config/cti.example.toml: {missing}"

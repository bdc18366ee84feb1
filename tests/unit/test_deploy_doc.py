"""docs/DEPLOY.md's configuration reference names every setting, its default and its variable."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from cti.settings import _SHORT_ENV, Settings, load_settings

DEPLOY = Path(__file__).parents[2] / "docs" / "DEPLOY.md"
FILE_ONLY = "file only"
HEADING = re.compile(r"^### `\[\[?(\w+)\]\]?`")
ROW = re.compile(r"^\| `(\w+)` \| (.*?) \| (.*?) \| (.*) \|$")


def _is_tuple(annotation: Any) -> bool:
    # Arrays and tables (a dict key such as [callbacks] hours) are set in the file only.
    return typing.get_origin(annotation) in (tuple, dict)


def _sections() -> dict[str, tuple[type[BaseModel], bool]]:
    """Each section's model and whether it is a list of tables (``[[pbx]]``)."""
    found = {}
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if _is_tuple(annotation):
            (model, _) = typing.get_args(annotation)
            found[name] = (model, True)
        else:
            assert isinstance(annotation, type)
            found[name] = (annotation, False)
    return found


def render_default(value: Any) -> str:
    """A default as the doc shows it: a TOML literal in backticks, or none / required."""
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    return f"`{_toml(value)}`"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def render_env(section: str, key: str, annotation: Any, is_list: bool) -> str:
    """The variable that sets a key, or "file only" (lists of tables and arrays)."""
    if is_list or _is_tuple(annotation):
        return FILE_ONLY
    short = {target: name for name, target in _SHORT_ENV.items()}.get((section, key))
    return f"`{short or f'CTI_{section.upper()}__{key.upper()}'}`"


def expected_rows() -> dict[str, dict[str, tuple[str, str]]]:
    """Per section, per key: (default, environment) as the doc must show them."""
    rows: dict[str, dict[str, tuple[str, str]]] = {}
    for section, (model, is_list) in _sections().items():
        rows[section] = {
            key: (
                render_default(info.default),
                render_env(section, key, info.annotation, is_list),
            )
            for key, info in model.model_fields.items()
        }
    return rows


def documented_rows() -> dict[str, dict[str, tuple[str, str, str]]]:
    """Per section, per key: (default, environment, meaning) as docs/DEPLOY.md shows them."""
    rows: dict[str, dict[str, tuple[str, str, str]]] = {}
    section: str | None = None
    for line in DEPLOY.read_text(encoding="utf-8").splitlines():
        heading = HEADING.match(line)
        if heading:
            section = heading.group(1)
            rows.setdefault(section, {})
        elif line.startswith("#"):
            section = None
        elif section is not None and (row := ROW.match(line)):
            key, default, env, meaning = row.groups()
            assert key not in rows[section], f"[{section}] {key} is documented twice"
            rows[section][key] = (default.strip(), env.strip(), meaning.strip())
    return rows


def test_every_setting_is_documented_with_its_default_and_variable() -> None:
    expected = expected_rows()
    documented = documented_rows()
    missing = [
        f"[{s}] {k}" for s, keys in expected.items() for k in keys if k not in documented.get(s, {})
    ]
    unknown = [
        f"[{s}] {k}" for s, keys in documented.items() for k in keys if k not in expected.get(s, {})
    ]
    assert missing == [], f"add these settings to docs/DEPLOY.md: {missing}"
    assert unknown == [], f"docs/DEPLOY.md documents settings that do not exist: {unknown}"
    wrong = [
        f"[{s}] {k}: shows {documented[s][k][:2]}, should be {shown}"
        for s, keys in expected.items()
        for k, shown in keys.items()
        if documented[s][k][:2] != shown
    ]
    assert wrong == [], "\n".join(wrong)
    unexplained = [
        f"[{s}] {k}" for s, keys in documented.items() for k, row in keys.items() if not row[2]
    ]
    assert unexplained == []


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (s, k)
        for s, keys in expected_rows().items()
        for k, (_, env) in keys.items()
        if env != FILE_ONLY
    ],
)
def test_each_documented_variable_sets_its_key(section: str, key: str) -> None:
    (_, env) = expected_rows()[section][key]
    model, _ = _sections()[section]
    value = model.model_fields[key].default
    if value is None:  # the optional strings (redis.url, rules.file, ...): any text sets them
        value = "example"
    text = _toml(value).strip('"')
    settings = load_settings(None, environ={env.strip("`"): text})
    got = getattr(getattr(settings, section), key)
    assert (got.get_secret_value() if isinstance(got, SecretStr) else got) == value


def test_arrays_are_file_only_because_the_environment_cannot_set_them() -> None:
    from cti.settings import ConfigError

    with pytest.raises(ConfigError, match="allowed_origins"):
        load_settings(None, environ={"CTI_SERVER__ALLOWED_ORIGINS": "https://crm.example.com"})
    with pytest.raises(ConfigError, match="pbx"):
        load_settings(None, environ={"CTI_PBX__HOST": "pbx.example.com"})


def test_the_check_catches_a_setting_missing_from_the_doc(monkeypatch: pytest.MonkeyPatch) -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    without = "\n".join(
        line for line in text.splitlines() if not line.startswith("| `idle_days` |")
    )
    assert without != text
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: without)
    assert "idle_days" not in documented_rows()["pool"]
    with pytest.raises(AssertionError, match=r"\[pool\] idle_days"):
        test_every_setting_is_documented_with_its_default_and_variable()

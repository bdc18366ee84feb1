"""``cti calls replay FILE.ami``: one JSON line per call, as the sidecar says it happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cti.cli import main
from tests.unit.test_calls_traces import CAPTURE_IDS, CAPTURES, load


@pytest.fixture(autouse=True)
def _no_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CTI_CONFIG", raising=False)


def run_replay(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    assert main(["calls", "replay", *argv]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("path", CAPTURES, ids=CAPTURE_IDS)
def test_one_line_per_observed_call(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = run_replay(capsys, str(path))
    _, meta = load(path)
    assert lines
    assert all(line["state"] == "ended" for line in lines)
    if meta is None:
        return
    observed = {c["linkedid"]: c for c in meta["observed_calls"]}
    assert [line["linkedid"] for line in lines] == sorted(
        observed, key=lambda lid: (observed[lid]["start_s"], lid)
    )
    for line in lines:
        call = observed[str(line["linkedid"])]
        assert line["caller"] == call["caller"]
        assert line["queue"] == call["queue"]
        assert (line["outcome"] == "answered") == bool(call["answered_by"])
        assert f"{line['hangup_cause']} {line['hangup_cause_text']}" == call["hangup_cause"]
        assert line["duration_s"] == pytest.approx(call["duration_s"], abs=0.05)


def test_times_are_absolute_when_the_sidecar_says_when(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = next(p for p in CAPTURES if p.stem == "inbound_answered")
    (line,) = run_replay(capsys, str(path))
    _, meta = load(path)
    assert meta is not None
    assert str(line["start"]).startswith(meta["recorded_at"][:10])
    assert line["answered_by"] == "102"
    assert line["agents_rung"] == ["101", "102", "103"]
    legs = line["legs"]
    assert isinstance(legs, list)
    assert [leg["result"] for leg in legs] == [
        "answered-elsewhere",
        "answered",
        "answered-elsewhere",
    ]


def test_capture_without_timing_prints_relative_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = next(p for p in CAPTURES if p.stem == "inbound_direct_busy")
    copy = tmp_path / "busy.ami"
    copy.write_bytes(source.read_bytes())
    (line,) = run_replay(capsys, str(copy))
    assert line["outcome"] == "busy"
    assert line["start"] == 0.0


def test_config_decides_what_a_trunk_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in CAPTURES if p.stem == "inbound_answered")
    config = tmp_path / "cti.toml"
    config.write_text(
        '[[pbx]]\nname = "other"\nusername = "u"\nsecret = "s"\n'
        'trunk_endpoints = ["provider"]\ninbound_contexts = ["from-provider"]\n',
        encoding="utf-8",
    )
    (default,) = run_replay(capsys, str(path))
    (configured,) = run_replay(capsys, str(path), "--config", str(config))
    assert default["direction"] == "inbound"
    assert configured["direction"] != "inbound"


def test_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "replay", str(tmp_path / "nope.ami")]) == 2
    assert "no such capture file" in capsys.readouterr().err

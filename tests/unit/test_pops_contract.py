"""The websocket contract: every message type the pops send has a section with a valid example."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cti.pops import messages

DOC = Path(__file__).parents[2] / "docs" / "EVENTS.md"


def _websocket_part() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("## Websocket messages", 1)[1].split("\n## Webhooks", 1)[0]


def test_every_message_type_has_a_section_with_a_json_example() -> None:
    sections = re.split(r"\n#### ", _websocket_part())[1:]
    examples: dict[str, dict[str, object]] = {}
    for section in sections:
        title = re.match(r"`([a-z_.]+)`", section)
        block = re.search(r"```json\n(.*?)```", section, flags=re.DOTALL)
        assert title is not None
        assert block is not None, f"no example for {title.group(1)}"
        examples[title.group(1)] = json.loads(block.group(1))
    # The message types are the module's upper-case string constants holding a type name.
    types = {
        value
        for name, value in vars(messages).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("STATUS_")
    }
    assert types <= set(examples)
    for kind, example in examples.items():
        assert example["type"] == kind
        assert example["v"] == messages.SCHEMA_VERSION
        assert {"id", "at"} <= set(example)


def test_encoded_messages_have_the_documented_envelope() -> None:
    encoder = messages.MessageEncoder(messages.MessageIds("doc"), clock=lambda: 1700000000.5)
    text = encoder.encode_with_card(messages.RINGING, {"linkedid": "L"}, '{"status":"ringing"}')
    message = json.loads(text)
    assert message == {
        "v": 1,
        "id": "doc-1",
        "type": "call.ringing",
        "at": "2023-11-14T22:13:20.500000+00:00",
        "linkedid": "L",
        "card": {"status": "ringing"},
    }
    state = json.loads(encoder.encode_state(3, ['{"a":1}', '{"b":2}']))
    assert state["cards"] == [{"a": 1}, {"b": 2}]
    assert state["id"] == "doc-2"

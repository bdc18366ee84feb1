"""One AMI message (event, response or action) as an ordered, case-insensitive header list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """An AMI message: ordered headers, a key may repeat (e.g. ``ChanVariable``)."""

    headers: tuple[tuple[str, str], ...]
    _index: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Reversed, so the first of a repeated key wins.
        index = {key.lower(): value for key, value in reversed(self.headers)}
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, fields: Mapping[str, str | list[str]] | Iterable[tuple[str, str]]) -> AmiMessage:
        """Build a message from a mapping (list values become repeated headers) or pairs."""
        if isinstance(fields, Mapping):
            pairs: list[tuple[str, str]] = []
            for key, value in fields.items():
                if isinstance(value, list):
                    pairs.extend((key, str(v)) for v in value)
                else:
                    pairs.append((key, str(value)))
            return cls(tuple(pairs))
        return cls(tuple(fields))

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (case-insensitive), or ``default`` when absent."""
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated header, in wire order."""
        wanted = key.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def event(self) -> str | None:
        """The event name, or None for responses and actions."""
        return self._index.get("event")

    @property
    def response(self) -> str | None:
        """``Success``/``Error``/``Follows``/``Goodbye`` for responses, else None."""
        return self._index.get("response")

    @property
    def action_id(self) -> str | None:
        return self._index.get("actionid")

    def as_dict(self) -> dict[str, str | list[str]]:
        """Headers as a dict; a repeated key becomes a list (as in the .timed.jsonl files)."""
        out: dict[str, str | list[str]] = {}
        for key, value in self.headers:
            if key in out:
                prev = out[key]
                out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                out[key] = value
        return out

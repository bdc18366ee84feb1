"""Exact-match stand-in for the duplicate check (same phone, email, or name and company)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PersonKey:
    name: str
    company: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    score: int
    reasons: tuple[str, ...]


def _name(key: PersonKey) -> tuple[str, str]:
    return (" ".join(key.name.casefold().split()), (key.company or "").casefold().strip())


def match_people(a: PersonKey, b: PersonKey) -> DuplicateMatch | None:
    reasons: list[str] = []
    if set(a.phones) & set(b.phones):
        reasons.append("same phone")
    if {e.lower() for e in a.emails} & {e.lower() for e in b.emails}:
        reasons.append("same email")
    if _name(a) == _name(b):
        reasons.append("same name and company")
    if not reasons:
        return None
    return DuplicateMatch(100 if "same phone" in reasons else 90, tuple(reasons))


class DuplicateIndex:
    def __init__(self) -> None:
        self._keys: dict[int, PersonKey] = {}
        self._blocks: dict[object, list[int]] = {}

    def add(self, person_id: int, key: PersonKey) -> None:
        self._keys[person_id] = key
        for block in self._blocks_of(key):
            self._blocks.setdefault(block, []).append(person_id)

    def candidates(self, key: PersonKey, *, limit: int = 5) -> list[tuple[int, DuplicateMatch]]:
        seen: set[int] = set()
        found: list[tuple[int, DuplicateMatch]] = []
        for block in self._blocks_of(key):
            for person_id in self._blocks.get(block, ()):
                if person_id in seen:
                    continue
                seen.add(person_id)
                match = match_people(key, self._keys[person_id])
                if match is not None:
                    found.append((person_id, match))
        found.sort(key=lambda item: -item[1].score)
        return found[:limit]

    @staticmethod
    def _blocks_of(key: PersonKey) -> list[object]:
        return (
            [("p", p) for p in key.phones]
            + [("e", e.lower()) for e in key.emails]
            + [("n", _name(key))]
        )

"""Duplicate check (查重): is this person already in the base, and how sure are we.

Signals, each checked on its own:

- ``phone``: a normalized number (E.164 or extension) in common. Score 100.
- ``email``: an address in common, compared case-insensitively. Score 95.
- ``name``: the names read alike. Names are transliterated to Latin with anyascii (so "Иван
  Петров" reads as "ivan petrov"), case-folded, cut into words and spelled alike where
  transliterations differ (x -> ks, kh -> h, ph -> f, w -> v, a final y -> i, doubled letters once:
  "Alexey" and "Алексей" both read "aleksei"). Similarity is rapidfuzz's ratio of the sorted words
  (word order does not matter), or of the shared words when both names have at least two words
  and one has more (a middle name). Two Chinese (CJK) names are compared by their characters, not
  their pinyin, so homophones such as 张伟 and 章伟 stay apart; a CJK name against a Latin one
  is compared by pinyin.
- ``company``: the companies read alike, compared the same way after legal forms are dropped
  (ООО, LLC, GmbH, 有限公司...); a Chinese company name of three or more characters found whole in
  the other counts as alike (北京罗马什卡 and 罗马什卡). Listed as a reason only beside another
  signal, and used to weigh a name match; colleagues at one company are not duplicates.

A name counts when its similarity is at least ``NAME_SIMILAR`` (85) and

- both companies are known and alike (at least ``COMPANY_SIMILAR``, 85): score
  ``90 - 0.6 * (100 - name) - 0.4 * (100 - company)``, from 75 to 90; or
- at least one company is unknown, the name is at least ``NAME_ONLY_SIMILAR`` (92) alike and both
  names have two parts (words, or CJK characters): score ``70 - (100 - name)``, from 62 to 70.

Two people with alike names at different known companies are namesakes, not duplicates. The match
score is the best signal's score plus ``CORROBORATION_BONUS`` (5) for each further signal among
phone, email and name, capped at 100; no signal, no match.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz import fuzz, process

PHONE_SCORE = 100
EMAIL_SCORE = 95
NAME_COMPANY_TOP = 90
NAME_ONLY_TOP = 70
NAME_SIMILAR = 85
NAME_ONLY_SIMILAR = 92
COMPANY_SIMILAR = 85
CORROBORATION_BONUS = 5
REASONS = ("phone", "email", "name", "company")

# Most people a candidate search gathers by name keys; a common first name alone is too vague.
MAX_NAMED = 64
# Name words that take part in blocking keys; long names add little past their first words.
_KEY_WORDS = 4

_NOT_WORD = re.compile(r"[^0-9a-z]+")
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK = re.compile(f"[{_CJK_RANGES}]")
_ALL_CJK = re.compile(f"[\\W_]*(?:[{_CJK_RANGES}][\\W_]*)+")
_DOUBLED = re.compile(r"(.)\1+")
_FOLDS = (("x", "ks"), ("kh", "h"), ("ph", "f"), ("w", "v"))
_CJK_LEGAL = re.compile(r"(?:股份)?有限(?:责任|責任)?公司|集团|集團|公司")
_LEGAL_WORDS = frozenset(
    {
        *("ooo", "oao", "zao", "pao", "ao", "ip", "llc", "ltd", "inc", "corp", "co", "gmbh"),
        *("ag", "sa", "srl", "bv", "plc", "lp", "llp", "pte", "pty", "company", "limited"),
        *("incorporated", "corporation"),
    }
)


@dataclass(frozen=True, slots=True)
class PersonKey:
    """What the duplicate check reads of a person."""

    name: str
    company: str | None = None
    emails: tuple[str, ...] = ()  # lower-cased
    phones: tuple[str, ...] = ()  # normalized (E.164 or extension)


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """How alike two people are: a score of 0..100 and the signals that agreed, in stable order."""

    score: int
    reasons: tuple[str, ...]


class _Transliteration(dict[int, str]):
    """anyascii's answer for each code point, asked once: ``str.translate`` then does a name in C.

    anyascii transliterates one code point at a time, whatever its neighbours, so a table of its
    answers per code point gives exactly its answer for a whole text.
    """

    def __missing__(self, codepoint: int) -> str:
        self[codepoint] = ascii_text = anyascii(chr(codepoint))
        return ascii_text


_TO_ASCII = _Transliteration()
# What _fold does to each word, done to the words joined by single spaces: every rule stays inside
# a word (a run of [0-9a-z]), so the joined text folds exactly as its words do one by one.
_FINAL_I_OF_WORD = re.compile(r"(?:iy|yi|ii|y)(?= |$)")


def _fold(words: str) -> str:
    for spelling, folded in _FOLDS:
        words = words.replace(spelling, folded)
    return _DOUBLED.sub(r"\1", _FINAL_I_OF_WORD.sub("i", words))


def _latin_words(text: str, *, drop: frozenset[str] = frozenset()) -> tuple[str, ...]:
    if not text.isascii():
        # A CJK character transliterates to one capitalised syllable; spaces keep them apart.
        text = (_CJK.sub(r" \g<0> ", text) if _CJK.search(text) else text).translate(_TO_ASCII)
    words = [word for word in _NOT_WORD.split(text.casefold()) if word and word not in drop]
    return tuple(_fold(" ".join(words)).split(" ")) if words else ()


@dataclass(frozen=True, slots=True)
class _Words:
    """A name or company ready for comparison: folded Latin words, and the CJK form if all CJK."""

    words: tuple[str, ...]
    sorted_text: str
    cjk: str

    @property
    def parts(self) -> int:
        return len(self.cjk) if self.cjk else len(self.words)


_EMPTY = _Words((), "", "")


@lru_cache(maxsize=1 << 16)
def _read_words(text: str | None, *, company: bool = False) -> _Words:
    if not text:
        return _EMPTY
    text = unicodedata.normalize("NFKC", text).strip()
    if company:
        text = _CJK_LEGAL.sub(" ", text)
    cjk = "".join(_CJK.findall(text)) if _ALL_CJK.fullmatch(text) else ""
    words = _latin_words(text, drop=_LEGAL_WORDS if company else frozenset())
    if not words:
        return _EMPTY
    return _Words(words, " ".join(sorted(words)), cjk)


def _similarity(a: _Words, b: _Words, *, contained: bool = False) -> float:
    """How alike two names (or companies) read, 0..100; 0 when either is empty.

    With ``contained``, a CJK text of three or more characters found whole in the other counts as
    alike: Chinese company names often lead with a city (北京罗马什卡 is 罗马什卡).
    """
    if not a.words or not b.words:
        return 0.0
    if a.cjk and b.cjk:
        shorter, longer = sorted((a.cjk, b.cjk), key=len)
        if contained and len(shorter) >= 3 and shorter in longer:
            return 100.0
        return fuzz.ratio(a.cjk, b.cjk)
    score = fuzz.ratio(a.sorted_text, b.sorted_text)
    if min(len(a.words), len(b.words)) >= 2 and len(a.words) != len(b.words):
        score = max(score, fuzz.token_set_ratio(a.sorted_text, b.sorted_text))
    return score


@dataclass(frozen=True, slots=True)
class NameReading:
    """A name at a company as the check reads them: folded words and the name's blocking keys."""

    name: _Words
    company: _Words
    keys: tuple[str, ...]

    def as_plain(self) -> PlainReading:
        """Tuples and strings only: what crosses to another process cheaply."""
        name, company = self.name, self.company
        return (name.words, name.sorted_text, name.cjk, company.words, company.sorted_text,
                company.cjk, self.keys)  # fmt: skip

    @classmethod
    def from_plain(cls, plain: PlainReading) -> NameReading:
        words, text, cjk, company_words, company_text, company_cjk, keys = plain
        return cls(_Words(words, text, cjk), _Words(company_words, company_text, company_cjk), keys)


PlainReading = tuple[
    tuple[str, ...], str, str, tuple[str, ...], str, str, tuple[str, ...]
]  # fmt: skip


# Readings by (name, company). Reading is most of what indexing a person costs; an import's worker
# reads its rows' names ahead (``read_name``) and hands them here (``remember_reading``).
_READINGS: dict[tuple[str, str | None], NameReading] = {}
_MAX_READINGS = 1 << 17


def read_name(name: str, company: str | None) -> NameReading:
    """How the check reads ``name`` at ``company``."""
    reading = _READINGS.get((name, company))
    if reading is None:
        words, company_words = _read_words(name), _read_words(company, company=True)
        reading = NameReading(words, company_words, _name_keys(words, company_words))
        remember_reading(name, company, reading)
    return reading


def remember_reading(name: str, company: str | None, reading: NameReading) -> None:
    """Keep ``reading`` (``read_name``'s answer, made in another process) for the next use."""
    if len(_READINGS) >= _MAX_READINGS:
        _READINGS.clear()
    _READINGS[(name, company)] = reading


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A person read once for matching: what scoring and blocking need, computed up front."""

    name: _Words
    company: _Words
    emails: frozenset[str]
    phones: frozenset[str]
    keys: tuple[str, ...] = ()
    """The name's blocking keys."""


def _prepare(person: PersonKey) -> _Prepared:
    reading = read_name(person.name, person.company)
    return _Prepared(
        name=reading.name,
        company=reading.company,
        emails=frozenset(email.strip().casefold() for email in person.emails if email.strip()),
        phones=frozenset(phone for phone in person.phones if phone),
        keys=reading.keys,
    )


def _name_score(a: _Prepared, b: _Prepared) -> tuple[int, bool] | None:
    """The name signal's score and whether the companies agree, or None when names do not count."""
    name = _similarity(a.name, b.name)
    if name < NAME_SIMILAR:
        return None
    if a.company.words and b.company.words:
        company = _similarity(a.company, b.company, contained=True)
        if company < COMPANY_SIMILAR:
            return None
        return round(NAME_COMPANY_TOP - 0.6 * (100 - name) - 0.4 * (100 - company)), True
    if name < NAME_ONLY_SIMILAR or min(a.name.parts, b.name.parts) < 2:
        return None
    return round(NAME_ONLY_TOP - (100 - name)), False


def _match(a: _Prepared, b: _Prepared) -> DuplicateMatch | None:
    scores: list[int] = []
    reasons: list[str] = []
    if a.phones & b.phones:
        scores.append(PHONE_SCORE)
        reasons.append("phone")
    if a.emails & b.emails:
        scores.append(EMAIL_SCORE)
        reasons.append("email")
    named = _name_score(a, b)
    if named is not None:
        scores.append(named[0])
        reasons.append("name")
    if not scores:
        return None
    companies_agree = named[1] if named is not None else _companies_agree(a, b)
    if companies_agree:
        reasons.append("company")
    score = max(scores) + CORROBORATION_BONUS * (len(scores) - 1)
    return DuplicateMatch(score=min(100, score), reasons=tuple(reasons))


def _companies_agree(a: _Prepared, b: _Prepared) -> bool:
    return _similarity(a.company, b.company, contained=True) >= COMPANY_SIMILAR


def match_people(a: PersonKey, b: PersonKey) -> DuplicateMatch | None:
    """How likely ``a`` and ``b`` are one person; None when nothing points that way."""
    return _match(_prepare(a), _prepare(b))


def _name_keys(name: _Words, company_words: _Words) -> tuple[str, ...]:
    """Blocking keys of a person's name: likely duplicates share at least one."""
    words = name.words[:_KEY_WORDS]
    keys = {f"w:{word}" for word in words if len(word) >= 2}
    # One typo spares either the starts or the ends of two words: key both.
    for first, second in itertools.combinations(sorted({word[:3] for word in words}), 2):
        keys.add(f"p:{first}|{second}")
    for first, second in itertools.combinations(sorted({word[-3:] for word in words}), 2):
        keys.add(f"s:{first}|{second}")
    company = "".join(sorted(company_words.words))
    if company:
        keys.update(f"c:{company}|{word[:3]}" for word in words)
    cjk = name.cjk
    if len(cjk) == 1:
        keys.add(f"h:{cjk}")
    keys.update(f"h:{first}{second}" for first, second in itertools.combinations(cjk, 2))
    return tuple(keys)


class DuplicateIndex:
    """In-memory index of many people for fast candidate search (imports of 100k rows).

    Candidates come from blocks: people sharing a phone, an email, or a name key (a folded name
    word, the starts or the ends of two words, the company with a word's start, two CJK
    characters). Name blocks are read most selective first, up to ``max_named`` people in all,
    so a common first name alone gathers nobody; rapidfuzz then screens their names in one call
    and only the people left (and those sharing a phone or email) are scored.
    """

    def __init__(self, *, max_named: int = MAX_NAMED) -> None:
        self._max_named = max_named
        self._people: dict[int, _Prepared] = {}
        self._texts: dict[int, str] = {}
        self._word_counts: dict[int, int] = {}
        self._keys: dict[int, tuple[str, ...]] = {}
        self._buckets: dict[str, set[int]] = {}

    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._people

    def add(self, person_id: int, person: PersonKey) -> None:
        """Index ``person`` under ``person_id``, replacing what that id held before."""
        self.remove(person_id)
        prepared = _prepare(person)
        keys = (
            *(f"t:{phone}" for phone in prepared.phones),
            *(f"e:{email}" for email in prepared.emails),
            *prepared.keys,
        )
        self._people[person_id] = prepared
        self._texts[person_id] = prepared.name.sorted_text
        self._word_counts[person_id] = len(prepared.name.words)
        self._keys[person_id] = keys
        for key in keys:
            self._buckets.setdefault(key, set()).add(person_id)

    def remove(self, person_id: int) -> None:
        """Forget ``person_id`` (merged away or deleted); unknown ids are ignored."""
        if self._people.pop(person_id, None) is None:
            return
        del self._texts[person_id]
        del self._word_counts[person_id]
        for key in self._keys.pop(person_id):
            bucket = self._buckets[key]
            bucket.discard(person_id)
            if not bucket:
                del self._buckets[key]

    def candidates(
        self, person: PersonKey, *, limit: int = 5, exclude: Iterable[int] = ()
    ) -> list[tuple[int, DuplicateMatch]]:
        """The ``limit`` best matches for ``person``, best first (ties by id), but ``exclude``."""
        prepared = _prepare(person)
        exact: set[int] = set()
        for key in (
            *(f"t:{phone}" for phone in prepared.phones),
            *(f"e:{e}" for e in prepared.emails),
        ):
            exact |= self._buckets.get(key, set())
        named = self._gather_named(prepared)
        named -= exact
        found = exact | self._alike_names(prepared, named)
        found.difference_update(exclude)
        matches = [
            (person_id, match)
            for person_id in found
            if (match := _match(prepared, self._people[person_id])) is not None
        ]
        matches.sort(key=lambda item: (-item[1].score, item[0]))
        return matches[:limit]

    def _gather_named(self, person: _Prepared) -> set[int]:
        buckets = [bucket for key in person.keys if (bucket := self._buckets.get(key))]
        buckets.sort(key=len)
        named: set[int] = set()
        for bucket in buckets:
            if len(named) + len(bucket) > self._max_named:
                break
            named |= bucket
        return named

    def _alike_names(self, person: _Prepared, ids: set[int]) -> set[int]:
        """Those of ``ids`` whose names may read alike, screened in bulk; a superset for _match."""
        if not ids or not person.name.words:
            return set()
        listed = list(ids)
        texts = [self._texts[person_id] for person_id in listed]
        query = person.name.sorted_text
        alike = {
            listed[at]
            for _, _, at in process.extract(
                query, texts, scorer=fuzz.ratio, score_cutoff=NAME_SIMILAR, limit=None
            )
        }
        # Shared words count only between names of two or more words and of different lengths.
        words = len(person.name.words)
        if words >= 2:
            counts = self._word_counts
            other = [at for at, pid in enumerate(listed) if counts[pid] not in (0, 1, words)]
            if other:
                alike.update(
                    listed[other[at]]
                    for _, _, at in process.extract(
                        query,
                        [texts[at] for at in other],
                        scorer=fuzz.token_set_ratio,
                        score_cutoff=NAME_SIMILAR,
                        limit=None,
                    )
                )
        if person.name.cjk:
            alike.update(person_id for person_id in ids if self._people[person_id].name.cjk)
        return alike

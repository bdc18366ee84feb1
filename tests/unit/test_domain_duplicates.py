"""Duplicate check: which people read as one, how sure, and the index that finds them fast."""

from __future__ import annotations

import random
import re

import pytest
from anyascii import anyascii
from hypothesis import given, settings
from hypothesis import strategies as st

from crmlite.domain.duplicates import (
    _CJK_RANGES,
    _LEGAL_WORDS,
    EMAIL_SCORE,
    MAX_NAMED,
    PHONE_SCORE,
    DuplicateIndex,
    DuplicateMatch,
    PersonKey,
    _latin_words,
    match_people,
)

P = PersonKey


@pytest.mark.parametrize(
    ("a", "b", "reasons"),
    [
        (P("Ivan Petrov", "Romashka"), P("Иван Петров", "ООО «Ромашка»"), ("name", "company")),
        (P("Ivan Petrov"), P("Иван Петров"), ("name",)),
        (P("Petrov Ivan"), P("Ivan Petrov"), ("name",)),
        (P("Alexey Smirnov"), P("Алексей Смирнов"), ("name",)),
        (P("Yuriy Gagarin"), P("Yuri Gagarin"), ("name",)),
        (P("Kirill Ivanov"), P("Kiril Ivanov"), ("name",)),
        (P("Ivan Ivanovich Petrov"), P("Ivan Petrov"), ("name",)),
        (P("Zhang Wei"), P("张伟"), ("name",)),
        (P("张伟", "北京罗马什卡有限公司"), P("张伟", "罗马什卡"), ("name", "company")),
        (P("علی رضایی"), P("علي رضايي"), ("name",)),
        (P("Ivan", "Romashka LLC"), P("Ivan", "Romashka"), ("name", "company")),
        (P("A", emails=("ivan@x.ru",)), P("B", emails=("IVAN@x.ru",)), ("email",)),
        (P("A", phones=("+74951234567",)), P("B", phones=("+74951234567",)), ("phone",)),
        (
            P("Ivan Petrov", "Romashka", phones=("+74951234567",)),
            P("Ivan Petrov", "Romashka", phones=("+74951234567",)),
            ("phone", "name", "company"),
        ),
        (
            P("Reception", "Romashka", phones=("+74951234567",)),
            P("Ivan Petrov", "Romashka", phones=("+74951234567",)),
            ("phone", "company"),
        ),
    ],
)
def test_alike_people_match_with_reasons(a: PersonKey, b: PersonKey, reasons: tuple[str]) -> None:
    match = match_people(a, b)
    assert match is not None
    assert match.reasons == reasons
    assert 0 < match.score <= 100
    assert match_people(b, a) == match


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (P("Ivan Petrov", "Romashka"), P("Ivan Petrov", "Lukoil")),  # namesakes at two firms
        (P("张伟"), P("章伟")),  # homophones: Chinese names compare by characters
        (P("张伟"), P("张伟明")),
        (P("Ivan"), P("Ivan")),  # one word and no company says too little
        (P("Anna Ivanova"), P("Ivan Ivanov")),
        (P("Ivan Petrov", "Romashka"), P("Olga Sidorova", "Romashka")),  # colleagues
        (P(""), P("")),
        (P("Ivan Petrov", emails=("a@x.ru",)), P("Oleg Orlov", emails=("b@x.ru",))),
    ],
)
def test_different_people_do_not_match(a: PersonKey, b: PersonKey) -> None:
    assert match_people(a, b) is None
    assert match_people(b, a) is None


def test_scores_rank_the_signals() -> None:
    phone = match_people(P("A", phones=("101",)), P("B", phones=("101",)))
    email = match_people(P("A", emails=("a@x.ru",)), P("B", emails=("a@x.ru",)))
    with_company = match_people(P("Ivan Petrov", "Romashka"), P("Ivan Petrov", "Romashka"))
    name_only = match_people(P("Ivan Petrov"), P("Ivan Petrov", "Romashka"))
    typo_only = match_people(P("Ivan Petrov"), P("Ivan Petrova"))
    assert phone == DuplicateMatch(PHONE_SCORE, ("phone",))
    assert email == DuplicateMatch(EMAIL_SCORE, ("email",))
    assert with_company == DuplicateMatch(90, ("name", "company"))
    assert name_only == DuplicateMatch(70, ("name",))
    assert typo_only is not None
    assert 62 <= typo_only.score < 70


def test_corroborating_signals_add_up_to_at_most_100() -> None:
    email_and_name = match_people(
        P("Ivan Petrov", emails=("ivan@x.ru",)), P("Иван Петров", emails=("ivan@x.ru",))
    )
    everything = match_people(
        P("Ivan Petrov", "Romashka", ("ivan@x.ru",), ("+74951234567",)),
        P("Ivan Petrov", "Romashka", ("ivan@x.ru",), ("+74951234567",)),
    )
    assert email_and_name == DuplicateMatch(100, ("email", "name"))
    assert everything == DuplicateMatch(100, ("phone", "email", "name", "company"))


def test_index_finds_by_phone_email_and_name_best_first() -> None:
    index = DuplicateIndex()
    index.add(1, P("Иван Петров", "ООО «Ромашка»"))
    index.add(2, P("Someone Else", phones=("+74951234567",)))
    index.add(3, P("Other Person", emails=("ivan@romashka.ru",)))
    index.add(4, P("Olga Sidorova", "Romashka"))
    index.add(5, P("Ivan Petrov", "Lukoil"))
    found = index.candidates(
        P("Ivan Petrov", "Romashka", ("ivan@romashka.ru",), ("+74951234567",)), limit=10
    )
    assert [person_id for person_id, _ in found] == [2, 3, 1]
    assert found[2][1] == DuplicateMatch(90, ("name", "company"))
    assert index.candidates(P("Ivan Petrov", "Romashka"), limit=10, exclude=[1]) == []
    assert (
        len(index.candidates(P("Ivan Petrov", "Romashka", phones=("+74951234567",)), limit=1)) == 1
    )


def test_index_forgets_and_replaces() -> None:
    index = DuplicateIndex()
    index.add(1, P("Ivan Petrov", phones=("+74951234567",)))
    index.add(1, P("Oleg Orlov", phones=("+74957654321",)))
    assert index.candidates(P("Ivan Petrov", phones=("+74951234567",))) == []
    assert [pid for pid, _ in index.candidates(P("Oleg Orlov"))] == [1]
    index.remove(1)
    index.remove(99)
    assert len(index) == 0
    assert index.candidates(P("Oleg Orlov", phones=("+74957654321",))) == []


def _random_people(count: int, seed: int) -> list[PersonKey]:
    rng = random.Random(seed)
    firsts = ["Ivan", "Olga", "Anna", "Petr", "Maria", "Oleg", "Иван", "Ольга", "Wei", "Li", "Ali"]
    syllables = ["ka", "ro", "mi", "ta", "ne", "so", "vu", "li", "gor", "pan", "dre", "shu"]
    people = []
    for number in range(count):
        last = "".join(rng.choice(syllables) for _ in range(3)).title()
        company = "".join(rng.choice(syllables) for _ in range(3)).title() if number % 3 else None
        people.append(
            P(
                f"{rng.choice(firsts)} {last}ov",
                company,
                (f"p{number}@mail.test",),
                (f"+7900{number:07d}",),
            )
        )
    return people


@pytest.mark.parametrize("max_named", [MAX_NAMED, 20])
def test_index_agrees_with_scoring_everyone(max_named: int) -> None:
    """Blocking must not lose a match that comparing every pair would find."""
    people = _random_people(600, seed=7)
    index = DuplicateIndex(max_named=max_named)
    for person_id, person in enumerate(people):
        index.add(person_id, person)
    probes = [P(person.name, person.company) for person in people[::7]]
    # Typos: a first name's vowel, a surname's last letter (its own word key then misses).
    probes += [P(person.name.replace("a", "o", 1), person.company) for person in people[::11]]
    probes += [P(person.name[:-1] + "f", None) for person in people[::5]]
    for probe in probes:
        expected = sorted(
            (
                (person_id, match)
                for person_id, person in enumerate(people)
                if (match := match_people(probe, person)) is not None
            ),
            key=lambda item: (-item[1].score, item[0]),
        )
        assert index.candidates(probe, limit=len(people)) == expected


@pytest.mark.parametrize("typed", ["Ivan Bonstantinopolsky", "Ivan Konstantinopolskoy"])
def test_a_common_first_name_and_a_mistyped_surname_meet_by_word_ends(typed: str) -> None:
    index = DuplicateIndex(max_named=3)
    for person_id in range(10):
        index.add(person_id, P(f"Ivan Sidorov{person_id}"))
    index.add(42, P("Иван Константинопольский"))
    assert [person_id for person_id, _ in index.candidates(P(typed))] == [42]


def test_a_vague_block_is_skipped_but_exact_signals_still_count() -> None:
    index = DuplicateIndex()
    for person_id in range(MAX_NAMED + 1):
        index.add(person_id, P("Ivan", emails=(f"i{person_id}@x.ru",)))
    found = index.candidates(P("Ivan", emails=("i7@x.ru",)), limit=3)
    assert [person_id for person_id, _ in found] == [7]


def _latin_words_one_by_one(text: str, drop: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The reading the duplicate check is specified by: anyascii on the text, each word folded."""
    if not text.isascii():
        text = anyascii(re.sub(f"[{_CJK_RANGES}]", r" \g<0> ", text))
    words = re.split(r"[^0-9a-z]+", text.casefold())
    folded = []
    for word in words:
        if not word or word in drop:
            continue
        for spelling, replacement in (("x", "ks"), ("kh", "h"), ("ph", "f"), ("w", "v")):
            word = word.replace(spelling, replacement)
        word = re.sub(r"(?:iy|yi|ii|y)$", "i", word)
        folded.append(re.sub(r"(.)\1+", r"\1", word))
    return tuple(folded)


_NAME_TEXT = st.text(
    alphabet=st.sampled_from(list("AaXxKkHhPpWwYyIi ЖжХхЙйЫыЁёЪъ王伟张偉ÄäØøß-.'0ООО&")),
    max_size=24,
)


@given(text=_NAME_TEXT, company=st.booleans())
@settings(max_examples=2000, deadline=None)
def test_names_read_as_anyascii_and_the_folding_rules_read_them(text: str, company: bool) -> None:
    # The check transliterates through a per-code-point table and folds all words at once: it
    # must read every name exactly as anyascii and the word-by-word rules do.
    drop = _LEGAL_WORDS if company else frozenset()
    assert _latin_words(text, drop=drop) == _latin_words_one_by_one(text, drop)


def test_transliterated_folding_reads_cyrillic_as_latin() -> None:
    assert _latin_words("Алексей Хрущёв") == ("aleksei", "hrushchev")
    assert _latin_words("Alexey Khrushchev") == ("aleksei", "hrushchev")

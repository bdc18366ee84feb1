"""Duplicate candidate search (crmlite.domain.duplicates.DuplicateIndex) as an import runs it.

Generates ``--rows`` people (Russian, English, Chinese and Persian names; half with a company;
one row in ten a retyped duplicate of an earlier row: a transliteration, a typo, another word
order) and, row by row, asks the index for candidates and then adds the row, as a contacts import
with duplicate detection does. Prints rows per second (wall clock and CPU of this process) and,
of the planted duplicates that the scoring calls a match, the share the index found (its blocking
recall). The index's share of an import's budget is held to ``TARGET_ROWS_PER_S`` (four times the
import's 5,000 rows/s, so that writing the rows keeps the rest).

Usage: ``python bench/duplicates_bench.py [--quick]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crmlite.domain.duplicates import DuplicateIndex, PersonKey, match_people  # noqa: E402

TARGET_ROWS_PER_S = 20_000
TARGET_FOUND_SHARE = 0.9
FIRST_NAMES = (
    *("Ivan", "Olga", "Anna", "Petr", "Maria", "Oleg", "Sergey", "Elena", "Dmitry", "Natalia"),
    *("Alexey", "Irina", "Andrey", "Tatiana", "Иван", "Ольга", "Анна", "Пётр", "Мария", "Олег"),
    *("Сергей", "Елена", "Дмитрий", "Наталья", "Алексей", "Ирина", "John", "Mary", "James"),
    *("Linda", "Robert", "Susan", "Ali", "Reza", "Sara", "Maryam", "Hossein", "Zahra"),
)
CHINESE_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
CHINESE_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
SYLLABLES = (
    *("ka", "ro", "mi", "ta", "ne", "so", "vu", "li", "gor", "pan"),
    *("dre", "shu", "ba", "ze", "lo", "tin", "ver", "kov", "sha", "mar"),
)


def _surname(rng: random.Random) -> str:
    stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).title()
    return stem + rng.choice(("ov", "in", "sky", "enko", ""))


def _person(rng: random.Random, number: int) -> PersonKey:
    if rng.random() < 0.15:
        name = rng.choice(CHINESE_SURNAMES) + "".join(
            rng.choice(CHINESE_GIVEN) for _ in range(rng.randint(1, 2))
        )
    else:
        name = f"{rng.choice(FIRST_NAMES)} {_surname(rng)}"
    company = (
        f"{_surname(rng)} {rng.choice(('LLC', 'ООО', 'GmbH', 'Trade'))}" if number % 2 else None
    )
    return PersonKey(name, company, (f"u{number}@mail.test",), (f"+7900{number:07d}",))


def _retyped(rng: random.Random, person: PersonKey, number: int) -> PersonKey:
    words = person.name.split()
    if len(words) == 2 and rng.random() < 0.5:
        name = f"{words[1]} {words[0]}"
    elif len(person.name) > 8:
        at = rng.randrange(len(person.name) // 2, len(person.name))
        name = person.name[:at] + "x" + person.name[at + 1 :]
    else:
        name = person.name
    return PersonKey(name, person.company, (f"dup{number}@mail.test",), (f"+7911{number:07d}",))


def run(rows: int, seed: int = 1) -> dict[str, float | int]:
    rng = random.Random(seed)
    people: list[PersonKey] = []
    planted: dict[int, int] = {}
    for number in range(rows):
        if number > 100 and rng.random() < 0.1:
            source = rng.randrange(number)
            people.append(_retyped(rng, people[source], number))
            planted[number] = source
        else:
            people.append(_person(rng, number))
    index = DuplicateIndex()
    # Blocking recall: of the planted pairs the scoring calls a match, those the index finds.
    matchable = {n for n, source in planted.items() if match_people(people[n], people[source])}
    found = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for number, person in enumerate(people):
        candidates = index.candidates(person)
        if number in matchable and any(pid == planted[number] for pid, _ in candidates):
            found += 1
        index.add(number, person)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "rows": rows,
        "rows_per_s_wall": round(rows / wall),
        "rows_per_s_cpu": round(rows / cpu),
        "planted_duplicates": len(planted),
        "matching_duplicates": len(matchable),
        "found_share": round(found / max(1, len(matchable)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows instead of 100,000")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    figures = run(rows)
    figures |= {
        "target_rows_per_s_cpu": TARGET_ROWS_PER_S,
        "target_found_share": TARGET_FOUND_SHARE,
        "met": figures["rows_per_s_cpu"] >= TARGET_ROWS_PER_S
        and figures["found_share"] >= TARGET_FOUND_SHARE,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Contact imports on SQLite and PostgreSQL: encodings, the row report, re-runs, resume."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import ContactPhone, ImportedRow, ImportRun
from crmlite.domain.principal import SYSTEM
from crmlite.services.contacts import ContactService
from crmlite.services.import_report import RowReport
from crmlite.services.imports import ImportProgress
from crmlite.services.phones import PhoneInput
from tests.integration.crm_support import add_users
from tests.integration.import_support import (
    contacts_by_name,
    count_contacts,
    emails_of,
    fixture,
    import_file,
    phones_of,
)

RU_REPORT = {
    2: ("created", ""),
    3: ("created", ""),
    5: ("error", "Телефон"),
    6: ("error", "E-mail"),
    7: ("error", "ФИО"),
    8: ("unchanged", ""),
    9: ("created", ""),
}


async def test_windows_1251_file_with_semicolons_quotes_and_bad_rows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    progress, report = await import_file(sessions, fixture("contacts_ru_cp1251.csv"))
    assert report.by_row() == RU_REPORT
    assert (progress.counts["created"], progress.counts["error"]) == (3, 3)
    async with sessions() as session:
        people = await contacts_by_name(session)
        assert set(people) == {"Иванов Иван", "Петрова Анна", "Ёлкин Фёдор"}
        ivanov = people["Иванов Иван"]
        assert ivanov.company == 'ООО "Ромашка"'
        assert await phones_of(ivanov) == ["+74951234567", "+79160001122"]
        assert people["Петрова Анна"].company == "Сбыт; опт"
        assert await phones_of(people["Ёлкин Фёдор"]) == ["+79031112233", "+79031112234"]
        assert await emails_of(session, ivanov.id) == ["ivanov@example.ru"]


async def test_second_run_of_the_same_file_creates_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    data = fixture("contacts_ru_cp1251.csv")
    await import_file(sessions, data)
    progress, report = await import_file(sessions, data)
    assert progress.counts["created"] == 0
    assert {status for status, _ in report.by_row().values()} == {"unchanged", "error"}
    async with sessions() as session:
        assert await count_contacts(session) == 3
        assert await session.scalar(select(func.count(ContactPhone.id))) == 5
        runs = list(await session.scalars(select(ImportRun).order_by(ImportRun.id)))
        assert [run.status for run in runs] == ["done", "done"]
        assert runs[1].counts["unchanged"] == 4


async def test_utf8_bom_file_maps_its_first_header(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, report = await import_file(sessions, fixture("contacts_en_utf8_bom.csv"))
    assert report.by_row() == {
        2: ("created", ""),
        3: ("created", ""),
        4: ("created", ""),
        5: ("error", "Email"),
    }
    async with sessions() as session:
        people = await contacts_by_name(session)
        assert set(people) == {"Smith, John", "Jane Doe", "Иван Смирнов"}
        assert await phones_of(people["Jane Doe"]) == ["+442079460018", "+447700900123"]
        assert people["Jane Doe"].company == 'The "Best" Co'


async def test_gb18030_tab_separated_file(sessions: async_sessionmaker[AsyncSession]) -> None:
    _, report = await import_file(sessions, fixture("contacts_zh_gb18030.tsv"))
    assert report.by_row() == {
        2: ("created", ""),
        3: ("created", ""),
        4: ("error", "电话"),
        5: ("created", ""),
    }
    async with sessions() as session:
        people = await contacts_by_name(session)
        assert await phones_of(people["张伟"]) == ["+8613800138000", "+8613900139000"]
        assert people["王芳"].company == '上海"东方"贸易'


async def test_a_run_stopped_after_a_batch_resumes_after_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    data = fixture("contacts_ru_cp1251.csv")

    async def crash_after_first(progress: ImportProgress, reports: Sequence[RowReport]) -> None:
        raise RuntimeError("the connection dropped")

    with pytest.raises(RuntimeError):
        await import_file(sessions, data, batch_size=3, on_batch=crash_after_first)
    async with sessions() as session:
        run = await session.scalar(select(ImportRun))
        assert run is not None
        assert (run.status, run.rows_done) == ("failed", 3)
        assert await count_contacts(session) == 2
    progress, report = await import_file(sessions, data, batch_size=3)
    assert progress.resumed_from == 3
    assert sorted(report.by_row()) == [6, 7, 8, 9]
    assert progress.counts == {
        "created": 3,
        "updated": 0,
        "unchanged": 1,
        "duplicate": 0,
        "merged": 0,
        "error": 3,
    }
    async with sessions() as session:
        assert await count_contacts(session) == 3
        assert await session.scalar(select(func.count(ImportRun.id))) == 1


async def test_dry_run_reports_everything_and_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    progress, report = await import_file(sessions, fixture("contacts_ru_cp1251.csv"), dry_run=True)
    assert report.by_row() == RU_REPORT
    assert progress.run_id is None
    async with sessions() as session:
        assert await count_contacts(session) == 0
        assert await session.scalar(select(func.count(ImportRun.id))) == 0
        assert await session.scalar(select(func.count(ImportedRow.id))) == 0


CSV_HEADER = "Name,Company,Phone,Email\r\n"


async def test_matched_contacts_are_filled_never_overwritten(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        held = await ContactService(session, SYSTEM).create(
            "Anna Petrova", phones=[PhoneInput("+7 903 000 00 01")]
        )
    data = (CSV_HEADER + "Anna P.,Acme,8 903 000-00-01; +7 903 000 00 02,anna@acme.io\r\n").encode()
    _, report = await import_file(sessions, data)
    assert [(r.status.value, r.entity_id) for r in report.rows] == [("updated", held.id)]
    assert "kept the name 'Anna Petrova'" in report.rows[0].reason
    async with sessions() as session:
        anna = (await contacts_by_name(session))["Anna Petrova"]
        assert (anna.company, anna.email) == ("Acme", "anna@acme.io")
        assert await phones_of(anna) == ["+79030000001", "+79030000002"]
        assert await emails_of(session, anna.id) == ["anna@acme.io"]


async def test_a_likely_duplicate_is_held_back_unless_merged(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        held = await ContactService(session, SYSTEM).create(
            "Anna Petrova", company="Acme", phones=[PhoneInput("+7 903 000 00 01")]
        )
    data = (CSV_HEADER + "Anna Petrova,Acme,+7 903 000 00 09,\r\n").encode()
    _, report = await import_file(sessions, data)
    assert [(r.status.value, r.entity_id) for r in report.rows] == [("duplicate", held.id)]
    async with sessions() as session:
        assert await count_contacts(session) == 1
    _, report = await import_file(sessions, data, merge=True)
    assert [(r.status.value, r.entity_id) for r in report.rows] == [("merged", held.id)]
    async with sessions() as session:
        assert await count_contacts(session) == 1
        anna = (await contacts_by_name(session))["Anna Petrova"]
        assert await phones_of(anna) == ["+79030000001", "+79030000009"]


async def test_duplicates_inside_one_file_are_caught(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    data = (
        CSV_HEADER
        + "Boris Ivanov,Globus,+7 903 100 00 01,\r\n"
        + "Boris Ivanov,Globus,+7 903 100 00 02,\r\n"
        + "B. Ivanov,,8 (903) 100-00-01,boris@globus.ru\r\n"
    ).encode()
    _, report = await import_file(sessions, data, batch_size=2)
    assert [r.status.value for r in report.rows] == ["created", "duplicate", "updated"]
    async with sessions() as session:
        assert await count_contacts(session) == 1


async def test_a_sellers_import_is_theirs_and_leaves_others_alone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, _, _ = await add_users(sessions)
    async with sessions.begin() as session:
        await ContactService(session, boris).create(
            "Boris client", company="Zeta", phones=[PhoneInput("+79035550001")]
        )
        await ContactService(session, boris).create("Boris other", email="other@boris.io")
    data = (
        CSV_HEADER
        + "New one,,+7 903 555 00 02,\r\n"
        + "Someone,,+7 903 555 00 01,x@y.io\r\n"
        + "Third,,,Other@Boris.io\r\n"
    ).encode()
    _, report = await import_file(sessions, data, principal=anna, owner_id=boris.user_id)
    assert [(r.status.value, r.column) for r in report.rows] == [
        ("created", ""),
        ("error", "Phone"),
        ("error", "Email"),
    ]
    async with sessions() as session:
        people = await contacts_by_name(session)
        assert people["New one"].owner_id == anna.user_id
        # The pool's idle clock starts with the import: an owned contact can go back to the pool.
        assert people["New one"].owned_since is not None
        assert people["Boris client"].email is None
        assert people["Boris other"].company is None


async def test_the_duplicate_check_reads_across_scripts_and_legal_forms(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        held = await ContactService(session, SYSTEM).create(
            "Алексей Петров", company='ООО "Ромашка"', phones=[PhoneInput("+7 903 000 00 01")]
        )
    data = (
        CSV_HEADER
        + "Alexey Petrov,Romashka LLC,+7 903 000 00 05,\r\n"
        + "Alexey Petrov,Globus LLC,+7 903 000 00 06,\r\n"
    ).encode()
    _, report = await import_file(sessions, data)
    assert [(r.status.value, r.entity_id) for r in report.rows[:1]] == [("duplicate", held.id)]
    assert "name" in report.rows[0].reason
    # The same name at another company is a namesake: a new contact.
    assert report.rows[1].status.value == "created"

"""Text the product writes follows ``[i18n] default_locale``: call deals and tasks, the seeded
pipeline; a caller with no name is shown by the number as people at home read it."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Contact, Deal, Pipeline, Stage
from crmlite.domain.phones import PhoneRules
from crmlite.domain.product_text import product_text
from crmlite.services.standard_pipeline import localize_standard_pipeline
from cti.calls.events import CallEvent
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import RuleExecutor
from tests.integration.call_support import (
    add_agents,
    inbound_call,
    ring_all_answered,
    ring_all_missed,
)
from tests.support.api import start_api

PHONES = PhoneRules(default_region="RU")


async def _names(sessions: async_sessionmaker[AsyncSession]) -> tuple[str, list[str]]:
    async with sessions() as db:
        pipeline = await db.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))
        assert pipeline is not None
        stages = list(
            await db.scalars(
                select(Stage.name).where(Stage.pipeline_id == pipeline.id).order_by(Stage.position)
            )
        )
        return pipeline.name, stages


async def test_seeded_pipeline_takes_the_locale_but_never_an_admins_names(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    assert await _names(sessions) == ("Sales", list(product_text("en").standard_stages))
    async with sessions.begin() as db:
        renamed = await localize_standard_pipeline(db, product_text("ru"))
    assert renamed.pipeline == ("Sales", "Продажи")
    assert len(renamed.stages) == 7
    assert await _names(sessions) == ("Продажи", list(product_text("ru").standard_stages))
    async with sessions.begin() as db:
        await db.execute(
            update(Stage).where(Stage.name == "Переговоры").values(name="Торг")
        )  # an admin's own name
    async with sessions.begin() as db:
        await localize_standard_pipeline(db, product_text("zh-CN"))
    name, stages = await _names(sessions)
    assert name == "销售"
    assert stages == ["未分类", "资格确认", "需求分析", "方案报价", "Торг", "赢单", "输单"]
    async with sessions.begin() as db:
        again = await localize_standard_pipeline(db, product_text("zh-CN"))
    assert not again


async def test_the_service_names_the_pipeline_on_start(database_url: str) -> None:
    harness = await start_api(database_url, settings={"i18n": {"default_locale": "fa"}})
    try:
        admin = await harness.client("admin")
        response = await admin.get("/api/v1/pipelines")
        assert response.status == 200, response.text
        [pipeline] = response.json()
        assert pipeline["name"] == "فروش"
        assert [s["name"] for s in pipeline["stages"]][:2] == ["دسته‌بندی‌نشده", "احراز صلاحیت"]
        created = await admin.post(
            "/api/v1/pipelines",
            json={"name": "خدمات", "stages": [{"name": "تعمیر"}, {"name": "موفق", "kind": "won"}]},
        )
        assert created.status == 201, created.text
        assert [s["name"] for s in created.json()["stages"]] == ["دسته‌بندی‌نشده", "تعمیر", "موفق"]
    finally:
        await harness.close()


async def _run(crm: CallToCrm, events: list[CallEvent]) -> None:
    for event in events:
        await crm.handle(event)


async def test_call_deals_and_tasks_are_titled_in_the_locale(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    crm = CallToCrm(sessions, RuleBook(PHONES), RuleExecutor(PHONES, text=product_text("zh-CN")))
    await _run(crm, ring_all_answered(inbound_call("1.1", caller="+79161110001")))
    nameless = replace(inbound_call("2.1", caller="89161110002"), caller_name=None)
    await _run(crm, ring_all_missed(nameless))
    async with sessions() as db:
        titles = list(await db.scalars(select(Deal.title).order_by(Deal.id)))
        [task] = list(await db.scalars(select(Activity.title).where(Activity.kind == "task")))
        names = list(await db.scalars(select(Contact.name).order_by(Contact.id)))
    assert titles == ["Vera 的来电", "8 (916) 111-00-02 的来电"]
    assert task == "8 (916) 111-00-02 的未接来电：请回拨"
    # The contact is named by the number as people read it; the phone row keeps E.164.
    assert names == ["Vera", "8 (916) 111-00-02"]


async def test_english_stays_the_default(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_agents(sessions)
    crm = CallToCrm(sessions, RuleBook(PHONES), RuleExecutor(PHONES))
    caller = replace(inbound_call("3.1", caller="+8613800138000"), caller_name="<unknown>")
    await _run(crm, ring_all_missed(caller))
    async with sessions() as db:
        [title] = list(await db.scalars(select(Deal.title)))
        [task] = list(await db.scalars(select(Activity.title).where(Activity.kind == "task")))
    assert title == "Call from +86 138 0013 8000"
    assert task == "Missed call from +86 138 0013 8000: call back"

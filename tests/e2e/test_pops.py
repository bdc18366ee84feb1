"""Screen pops in the browser: a simulated queue call rings two sellers; one answers, the other's
card is withdrawn; the call ends as a wrap-up form that moves the deal."""

from __future__ import annotations

import itertools

from playwright.sync_api import Locator, Page, expect

from cti.sim import flows
from cti.sim.builder import Step
from tests.e2e.conftest import LiveServer, SimulatedPbx, log_in, screenshot

RING_S = 10.0
TALK_S = 30.0
_callers = itertools.count(10)


def pop_of(tab: Page, caller: str) -> Locator:
    """The card of the call from ``caller`` (+7916123NNNN), found by its number as shown."""
    digits = caller[-4:]
    return tab.get_by_test_id("pop").filter(has_text=f"8 (916) 123-{digits[:2]}-{digits[2:]}")


def phases(steps: list[Step]) -> tuple[list[Step], list[Step], list[Step]]:
    """Split a queue call's steps into ringing, answered-and-talking, and ended."""
    ringing = [s for s in steps if s.at < RING_S]
    talking = [s for s in steps if RING_S <= s.at < RING_S + TALK_S]
    ended = [s for s in steps if s.at >= RING_S + TALK_S]
    return ringing, talking, ended


def answer_to_wrapup(page: Page, server: LiveServer, pbx: SimulatedPbx, caller: str) -> Locator:
    """Anna logs in, takes a whole queue call from ``caller`` at 101: her wrap-up card."""
    log_in(page, server, server.people["anna"])
    expect(page.locator("body[data-pops=connected]")).to_have_count(1)
    steps = flows.queue_call(
        pbx.sim.ids, caller=caller, agents=("101",), answer_by="101", ring_s=RING_S, talk_s=TALK_S
    )
    pbx.send(steps)
    pop = pop_of(page, caller)
    expect(pop).to_have_attribute("data-status", "wrap-up")
    return pop


def test_a_call_pops_for_two_sellers_one_answers_and_the_wrapup_moves_the_deal(
    page: Page, second_page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    anna, boris = server.people["anna"], server.people["boris"]
    caller = f"+7916123{next(_callers):04d}"
    pipeline = next(p for p in anna.api.get("/api/v1/pipelines") if p["is_default"])
    unsorted = next(s for s in pipeline["stages"] if s["is_unsorted"])
    qualification = next(
        s for s in pipeline["stages"] if s["kind"] == "open" and not s["is_unsorted"]
    )
    contact = anna.api.post(
        "/api/v1/contacts",
        json={"name": "Ivan Petrov", "company": "Romashka", "phones": [{"raw": caller}]},
    )
    deal = anna.api.post(
        "/api/v1/deals",
        json={"title": "Inbound: Ivan", "stage_id": unsorted["id"], "contact_id": contact["id"]},
    )

    log_in(page, server, anna)
    boris_page = second_page
    log_in(boris_page, server, boris)
    for tab in (page, boris_page):
        expect(tab.locator("body[data-pops=connected]")).to_have_count(1)

    steps = flows.queue_call(
        pbx.sim.ids,
        caller=caller,
        agents=("101", "102"),
        answer_by="101",
        ring_s=RING_S,
        talk_s=TALK_S,
    )
    ringing, talking, ended = phases(steps)

    pbx.send(ringing)
    for tab in (page, boris_page):
        pop = pop_of(tab, caller)
        expect(pop).to_have_attribute("data-status", "ringing")
        expect(pop.get_by_test_id("pop-status")).to_have_text("Incoming call")
        expect(pop).to_be_visible()
        expect(pop).to_contain_text("Ivan Petrov")
        expect(pop).to_contain_text("Inbound: Ivan")
    screenshot(page, "pop-ringing")

    pbx.send(talking)
    expect(pop_of(page, caller)).to_have_attribute("data-status", "in-call")
    expect(pop_of(page, caller).get_by_test_id("pop-status")).to_have_text("In call")
    expect(pop_of(boris_page, caller)).to_have_attribute("data-status", "withdrawn")
    expect(pop_of(boris_page, caller).get_by_test_id("pop-status")).to_have_text(
        "Answered by Anna Seller"
    )
    screenshot(boris_page, "pop-withdrawn")

    pbx.send(ended)
    pop = pop_of(page, caller)
    expect(pop).to_have_attribute("data-status", "wrap-up")
    pop.get_by_label("Note").fill("Wants a quote for 3 cars")
    pop.get_by_label("Next stage").select_option(str(qualification["id"]))
    pop.get_by_label("Create a call-back task").check()
    screenshot(page, "pop-wrapup")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/wrapups")) as saved:
        pop.get_by_role("button", name="Save").click()
    assert saved.value.status == 201, saved.value.text()
    expect(pop_of(page, caller)).to_have_count(0)

    assert anna.api.get(f"/api/v1/deals/{deal['id']}")["stage_id"] == qualification["id"]
    page.reload()
    expect(
        page.locator(
            f'section.column[data-stage-id="{qualification["id"]}"] .deal-card',
            has_text="Inbound: Ivan",
        )
    ).to_be_visible()
    activities = anna.api.get("/api/v1/activities", params={"deal_id": deal["id"]})["items"]
    assert {(a["kind"], a["body"] or a["title"]) for a in activities} >= {
        ("note", "Wants a quote for 3 cars")
    }
    assert any(a["kind"] == "task" for a in activities)
    # The call-to-CRM rules logged the call on the contact's one open deal.
    calls = [a for a in activities if a["kind"] == "call"]
    assert [(c["direction"], c["outcome"], c["from_number"]) for c in calls] == [
        ("inbound", "answered", caller)
    ]


def test_a_transfer_moves_the_card_to_the_new_sellers_screen(
    page: Page, second_page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    anna, boris = server.people["anna"], server.people["boris"]
    caller = f"+7916123{next(_callers):04d}"
    log_in(page, server, anna)
    boris_page = second_page
    log_in(boris_page, server, boris)
    for tab in (page, boris_page):
        expect(tab.locator("body[data-pops=connected]")).to_have_count(1)

    steps = flows.queue_call(
        pbx.sim.ids,
        caller=caller,
        agents=("101",),
        answer_by="101",
        transfer_to="102",
        ring_s=RING_S,
        talk_s=TALK_S,
    )
    transfer_at = RING_S + TALK_S / 2
    pbx.send([s for s in steps if s.at < transfer_at])
    expect(pop_of(page, caller)).to_have_attribute("data-status", "in-call")
    expect(pop_of(boris_page, caller)).to_have_count(0)

    pbx.send([s for s in steps if transfer_at <= s.at < transfer_at + 2.0])
    expect(pop_of(page, caller).get_by_test_id("pop-status")).to_have_text("Transferred")
    expect(pop_of(boris_page, caller)).to_contain_text("8 (916) 123-")

    pbx.send([s for s in steps if s.at >= transfer_at + 2.0])
    expect(pop_of(boris_page, caller)).to_have_attribute("data-status", "wrap-up")


def test_the_wrapup_closes_a_deal_as_lost_with_its_reason(
    page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    anna = server.people["anna"]
    caller = f"+7916123{next(_callers):04d}"
    pipeline = next(p for p in anna.api.get("/api/v1/pipelines") if p["is_default"])
    lost = next(s for s in pipeline["stages"] if s["kind"] == "lost")
    first = next(s for s in pipeline["stages"] if s["kind"] == "open" and not s["is_unsorted"])
    contact = anna.api.post(
        "/api/v1/contacts", json={"name": "Gleb Lost", "phones": [{"raw": caller}]}
    )
    deal = anna.api.post(
        "/api/v1/deals",
        json={"title": "Lost: minibus", "stage_id": first["id"], "contact_id": contact["id"]},
    )
    pop = answer_to_wrapup(page, server, pbx, caller)
    reason = pop.get_by_label("Why lost?")
    expect(reason).to_be_hidden()
    pop.get_by_label("Next stage").select_option(str(lost["id"]))
    reason.fill("Bought from a competitor")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/wrapups")) as saved:
        pop.get_by_role("button", name="Save").click()
    assert saved.value.status == 201, saved.value.text()
    closed = anna.api.get(f"/api/v1/deals/{deal['id']}")
    assert (closed["status"], closed["lost_reason"]) == ("lost", "Bought from a competitor")


def test_a_wrapup_redrawn_with_a_late_deal_keeps_what_the_seller_typed(
    page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    """The CRM can name the call's deal after the wrap-up went out; the new card keeps the form."""
    anna = server.people["anna"]
    caller = f"+7916123{next(_callers):04d}"
    pop = answer_to_wrapup(page, server, pbx, caller)
    pop.get_by_label("Note").fill("Call back about the trade-in")
    pop.get_by_label("Create a call-back task").check()
    # The call-to-CRM rules make the unknown caller a contact with an Unsorted deal; the wrap-up
    # names it (at once, or sent again when the CRM lane is slower than the wrap-up's wait).
    deal_link = pop.locator("form.wrapup a[href^='/deals/']")
    expect(deal_link).to_be_visible()
    deal_id = int(str(deal_link.get_attribute("href")).rsplit("/", 1)[1])
    linkedid = pop.get_attribute("data-linkedid")
    # Redraw the card as the server does when it learns more after the wrap-up went out.
    page.evaluate(
        """async ([linkedid, deal]) => {
            const pops = await import("/static/js/pops.js");
            pops.onMessage({ type: "call.wrapup", linkedid, card: { linkedid, rev: 1000, deal } });
        }""",
        [linkedid, {"id": deal_id, "title": "Linked late"}],
    )
    pop = pop_of(page, caller)
    expect(pop.get_by_role("link", name="Linked late")).to_be_visible()
    expect(pop.get_by_label("Note")).to_have_value("Call back about the trade-in")
    expect(pop.get_by_label("Create a call-back task")).to_be_checked()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/wrapups")) as saved:
        pop.get_by_role("button", name="Save").click()
    assert saved.value.status == 201, saved.value.text()
    activities = anna.api.get("/api/v1/activities", params={"deal_id": deal_id})["items"]
    assert ("note", "Call back about the trade-in") in {(a["kind"], a["body"]) for a in activities}

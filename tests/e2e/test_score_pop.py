"""A ringing card shows the caller's lead score and its top reasons, in the seller's language."""

from __future__ import annotations

import datetime as dt
import time

from playwright.sync_api import Page, expect

from cti.sim import flows
from tests.e2e.conftest import LiveServer, SimulatedPbx, log_in, screenshot

CALLER = "+79161239871"
RING_S = 3.0  # shorter than the queue's member timeout: the phone rings until answered


def test_a_ringing_card_shows_the_callers_score_and_its_reasons(
    page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    anna = server.people["anna"]
    contact = anna.api.post(
        "/api/v1/contacts", json={"name": "Olga Scored", "phones": [{"raw": CALLER}]}
    )
    now = dt.datetime.now(dt.UTC)
    # Three calls this week that nobody answered or returned: the default rules weigh them.
    for hours in (50, 26, 3):
        started = now - dt.timedelta(hours=hours)
        anna.api.post(
            "/api/v1/activities",
            json={
                "kind": "call",
                "contact_id": contact["id"],
                "direction": "inbound",
                "from_number": CALLER,
                "started_at": started.isoformat(),
                "ended_at": (started + dt.timedelta(seconds=30)).isoformat(),
                "outcome": "missed",
            },
        )
    deadline = time.monotonic() + 30
    score = anna.api.get(f"/api/v1/contacts/{contact['id']}/score")
    while score["score"] is None and time.monotonic() < deadline:
        time.sleep(0.5)  # the scoring watch sweeps every few seconds
        score = anna.api.get(f"/api/v1/contacts/{contact['id']}/score")
    assert score["score"] is not None
    rules = {factor["rule"] for factor in score["factors"]}
    assert {"inbound-week", "not-called-back"} <= rules

    log_in(page, server, anna)
    expect(page.locator("body[data-pops=connected]")).to_have_count(1)
    steps = flows.queue_call(
        pbx.sim.ids, caller=CALLER, agents=("101",), answer_by="101", ring_s=RING_S, talk_s=2.0
    )
    pbx.send([s for s in steps if s.at < RING_S])  # ringing, and it keeps ringing
    pop = page.get_by_test_id("pop").filter(has_text="Olga Scored")
    expect(pop).to_have_attribute("data-status", "ringing")
    badge = pop.get_by_test_id("pop-score-value")
    expect(badge).to_have_text(str(score["score"]))
    reasons = pop.get_by_test_id("pop-score-reasons")
    expect(reasons).to_contain_text("3 inbound calls in 7 days")
    expect(reasons).to_contain_text("+18")
    expect(reasons).to_contain_text("3 missed calls not called back")
    expect(reasons).to_contain_text("\u221224")
    screenshot(page, "score-pop")

    # The same reasons in Russian once the seller switches the language.
    page.get_by_label("Language").select_option("ru")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(pop.get_by_test_id("pop-score-reasons")).to_contain_text(
        "3 пропущенных звонка без перезвона"
    )
    page.get_by_label("Язык").select_option("en")
    pbx.send([s for s in steps if s.at >= RING_S])  # answered, talked, ended: the card goes

    # The contact's page explains its score the same way.
    page.goto(f"{server.url}/contacts/{contact['id']}")
    panel = page.get_by_test_id("score-panel")
    expect(panel.get_by_test_id("score-value")).to_be_visible()
    expect(panel.get_by_test_id("score-reasons")).to_contain_text("inbound calls in 7 days")

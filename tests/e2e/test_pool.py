"""The public pool in the browser: a seller releases a contact, another claims it and owns it;
a pool contact's ringing card says so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from cti.sim import flows
from tests.e2e.conftest import LiveServer, SimulatedPbx, log_in

RING_S = 60.0
TALK_S = 60.0


def test_a_seller_claims_from_the_pool_and_sees_it_become_theirs(
    page: Page, server: LiveServer
) -> None:
    chen, anna = server.people["chen"], server.people["anna"]
    contact = chen.api.post("/api/v1/contacts", json={"name": "Olga Vetrova", "company": "Sever"})
    chen.api.post(
        f"/api/v1/contacts/{contact['id']}/release", json={"reason": "wants a call in spring"}
    )

    log_in(page, server, anna, path="/pool")
    row = page.get_by_test_id("pool-row").filter(has_text="Olga Vetrova")
    expect(row).to_contain_text("wants a call in spring")
    expect(row).to_contain_text("Chen Seller")
    row.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status").filter(has_text="The contact is yours now.")).to_be_visible()
    row.get_by_test_id("pool-taken").click()

    expect(page.locator("#contact-name")).to_have_text("Olga Vetrova")
    expect(page.get_by_test_id("contact-owner")).to_have_text("Anna Seller")
    history = page.get_by_test_id("pool-history")
    expect(history).to_contain_text("Released by Chen Seller: wants a call in spring")
    expect(history).to_contain_text("Claimed by Anna Seller")
    assert anna.api.get(f"/api/v1/contacts/{contact['id']}")["owner_id"] == anna.id


def test_a_seller_releases_a_contact_with_a_reason(page: Page, server: LiveServer) -> None:
    boris = server.people["boris"]
    contact = boris.api.post("/api/v1/contacts", json={"name": "Gleb Released"})

    log_in(page, server, boris, path=f"/contacts/{contact['id']}")
    page.get_by_test_id("contact-release").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Why").fill("closed the business")
    dialog.get_by_role("button", name="Release to the pool").click()

    row = page.get_by_test_id("pool-row").filter(has_text="Gleb Released")
    expect(row).to_contain_text("closed the business")
    expect(row).to_contain_text("Boris Seller")
    pool = boris.api.get("/api/v1/pool", params={"q": "Gleb Released"})
    assert [e["contact_id"] for e in pool["items"]] == [contact["id"]]


def test_the_ringing_card_of_a_pool_contact_says_in_the_pool(
    page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    anna, chen = server.people["anna"], server.people["chen"]
    caller = "+79161239977"
    contact = chen.api.post(
        "/api/v1/contacts", json={"name": "Roman Pooled", "phones": [{"raw": caller}]}
    )
    chen.api.post(f"/api/v1/contacts/{contact['id']}/release", json={"reason": "on vacation"})

    log_in(page, server, anna)
    expect(page.locator("body[data-pops=connected]")).to_have_count(1)
    steps = flows.queue_call(
        pbx.sim.ids, caller=caller, agents=("101",), answer_by=None, ring_s=RING_S
    )
    pbx.send([s for s in steps if s.at < RING_S])  # ringing until the card is read

    card = page.get_by_test_id("pop").filter(has_text="Roman Pooled")
    note = card.get_by_test_id("pop-pool")
    expect(note).to_contain_text("In the pool")
    expect(note).to_contain_text("previously Chen Seller")
    expect(note).to_contain_text("on vacation")
    # [pool] ring is previous_owner here: no Claim on the card (that is the queue mode's).
    expect(card.get_by_test_id("pop-claim")).to_have_count(0)
    pbx.send([s for s in steps if s.at >= RING_S])


@pytest.fixture(scope="module")
def queue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second service whose pool contacts ring the queue: whoever answers may claim them."""
    path = tmp_path_factory.mktemp("e2e-pool-queue") / "e2e.db"
    live = LiveServer(f"sqlite+aiosqlite:///{path}", settings={"pool": {"ring": "queue"}})
    live.start()
    yield live
    live.stop()


def test_in_queue_mode_the_seller_who_answered_claims_from_the_card(
    page: Page, queue_server: LiveServer
) -> None:
    pbx = SimulatedPbx(queue_server)
    pbx.wait_until_consumed()
    anna, chen = queue_server.people["anna"], queue_server.people["chen"]
    caller = "+79161239988"
    contact = chen.api.post(
        "/api/v1/contacts", json={"name": "Queue Quentin", "phones": [{"raw": caller}]}
    )
    chen.api.post(f"/api/v1/contacts/{contact['id']}/release", json={"reason": "left the team"})

    log_in(page, queue_server, anna)
    expect(page.locator("body[data-pops=connected]")).to_have_count(1)
    steps = flows.queue_call(
        pbx.sim.ids, caller=caller, agents=("101",), answer_by="101", ring_s=2.0, talk_s=TALK_S
    )
    pbx.send([s for s in steps if s.at < 2.0 + TALK_S])  # ringing, answered, talking

    card = page.get_by_test_id("pop").filter(has_text="Queue Quentin")
    expect(card).to_have_attribute("data-status", "in-call")
    expect(card.get_by_test_id("pop-pool")).to_contain_text("previously Chen Seller")
    card.get_by_test_id("pop-claim").click()
    expect(page.get_by_role("status").filter(has_text="The contact is yours now.")).to_be_visible()
    expect(card).to_contain_text("Now yours")
    assert anna.api.get(f"/api/v1/contacts/{contact['id']}")["owner_id"] == anna.id
    pbx.send([s for s in steps if s.at >= 2.0 + TALK_S])

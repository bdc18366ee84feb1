"""Duplicates (查重) in the browser: a head merges two contacts from the duplicate hint."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in


def test_a_head_merges_two_contacts_from_the_duplicate_hint(page: Page, server: LiveServer) -> None:
    helen = server.people["helen"]
    survivor = helen.api.post(
        "/api/v1/contacts",
        json={
            "name": "Ivan Kuznetsov",
            "company": "Romashka",
            "phones": [{"raw": "+7 495 700-11-22"}],
        },
    )
    other = helen.api.post(
        "/api/v1/contacts",
        json={
            "name": "Иван Кузнецов",
            "company": "ООО «Ромашка»",
            "email": "kuznetsov@romashka.ru",
            "phones": [{"raw": "+7 916 700-33-44"}],
        },
    )
    for contact, title in ((survivor, "Kuznetsov: first order"), (other, "Кузнецов: второй заказ")):
        helen.api.post("/api/v1/deals", json={"title": title, "contact_id": contact["id"]})
        helen.api.post(
            "/api/v1/tasks", json={"title": f"Call back: {title}", "contact_id": contact["id"]}
        )

    log_in(page, server, helen, path=f"/contacts/{survivor['id']}")
    hint = page.get_by_test_id("duplicate-hint")
    candidate = hint.locator(f"li[data-contact-id='{other['id']}']")
    expect(candidate).to_contain_text("Иван Кузнецов")
    expect(candidate).to_contain_text("similar name, same company")
    candidate.get_by_role("button", name="Merge").click()

    dialog = page.get_by_role("dialog", name="Merge contacts")
    name_choice = dialog.locator("fieldset[data-field='name']")
    expect(name_choice).to_contain_text("Ivan Kuznetsov")
    expect(name_choice).to_contain_text("Иван Кузнецов")
    name_choice.get_by_label("Иван Кузнецов").check()
    dialog.get_by_role("button", name="Merge").click()

    expect(page.get_by_role("heading", name="Иван Кузнецов")).to_be_visible()
    main = page.locator("#main")
    for text in (
        "Kuznetsov: first order",
        "Кузнецов: второй заказ",
        "Call back: Kuznetsov: first order",
        "Call back: Кузнецов: второй заказ",
        "kuznetsov@romashka.ru",
        "Romashka",
    ):
        expect(main).to_contain_text(text)
    expect(page.get_by_test_id("duplicate-hint")).to_have_count(0)

    # The merged contact's old link leads to the survivor.
    page.goto(f"{server.url}/contacts/{other['id']}")
    expect(page).to_have_url(f"{server.url}/contacts/{survivor['id']}")
    expect(page.get_by_role("heading", name="Иван Кузнецов")).to_be_visible()
    expect(page.locator("#main")).to_contain_text("Kuznetsov: first order")

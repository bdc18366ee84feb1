"""The Import screen: upload a Windows-1251 file, map, preview, run, read the result."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in, screenshot
from tests.e2e.test_accessibility import axe_page, violations

__all__ = ["axe_page"]  # the fixture, shared with the accessibility tests

# Excel in a Russian locale: ";" between cells, Windows-1251, a note column nobody wants, a bad
# email (left out by the mapping below) and a bad phone (reported).
FILE = (
    "ФИО;Телефон;Заметка;E-mail\r\n"
    "Импортов Игорь;+7 (977) 700-10-01, 8 977 700 10 02;звонить утром;не-почта\r\n"
    "Загрузкина Зоя;+7 977 700 10 03;;zoya@example.ru\r\n"
    "Ошибкин Олег;нет номера;;\r\n"
).encode("cp1251")


def test_import_with_mapping_preview_and_result(page: Page, server: LiveServer) -> None:
    log_in(page, server, server.people["helen"], path="/import")
    expect(page.get_by_role("heading", name="Import", exact=True)).to_be_visible()
    page.get_by_label("What").select_option("contacts")
    page.locator("#import-file").set_input_files(
        files=[{"name": "клиенты.csv", "mimeType": "text/csv", "buffer": FILE}]
    )
    detected = page.get_by_test_id("import-detected")
    expect(detected).to_contain_text("cp1251")
    expect(detected).to_contain_text("delimiter ;")
    expect(detected).to_contain_text("rows: 3")

    # The mapping step: names and phones map themselves, the note is skipped, and the person
    # leaves the email column out as well.
    expect(page.get_by_label("Field of the column ФИО")).to_have_value("name")
    expect(page.get_by_label("Field of the column Заметка")).to_have_value("")
    preview = page.locator("#import-preview-table")
    expect(preview).to_contain_text("not an email address")
    page.get_by_label("Field of the column E-mail").select_option("")
    page.get_by_role("button", name="Check with this mapping").click()
    expect(preview).not_to_contain_text("not an email address")
    expect(preview.locator("tr", has_text="Ошибкин")).to_contain_text("not a phone number")
    screenshot(page, "import-mapping")

    page.get_by_role("button", name="Import", exact=True).click()
    result = page.get_by_test_id("import-result")
    expect(result).to_contain_text("Import finished")
    expect(page.get_by_test_id("count-created")).to_have_text("2")
    expect(page.get_by_test_id("count-error")).to_have_text("1")
    report = page.locator("#import-report")
    expect(report.locator("tr.status-error")).to_contain_text("Телефон")
    expect(page.locator("#import-report-link")).to_have_attribute(
        "href", re.compile(r"^/api/v1/imports/[\w-]+/report$")
    )
    screenshot(page, "import-result")

    page.get_by_role("link", name="Contacts").first.click()
    page.get_by_label("Search contacts").fill("Импортов")
    expect(page.get_by_role("link", name="Импортов Игорь")).to_be_visible()
    export = page.locator("#contacts-export-csv")
    expect(export).to_have_attribute("href", re.compile(r"format=csv"))
    answer = page.request.get(server.url + (export.get_attribute("href") or ""))
    assert answer.ok
    text = answer.body().decode("utf-8")
    assert text.startswith("\ufeffid,name,")
    assert "Импортов Игорь" in text
    assert "+79777001002" in text


def test_the_import_screen_has_no_serious_accessibility_problems(
    axe_page: Page, server: LiveServer
) -> None:
    log_in(axe_page, server, server.people["helen"], path="/import")
    axe_page.locator("#import-file").set_input_files(
        files=[{"name": "a11y.csv", "mimeType": "text/csv", "buffer": FILE}]
    )
    expect(axe_page.get_by_test_id("import-detected")).to_contain_text("cp1251")
    assert violations(axe_page) == []

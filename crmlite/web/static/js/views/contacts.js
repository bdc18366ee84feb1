// Contacts: search by text or phone in any format, and create one (with the duplicate check).

import { api, itemsOf } from "../api.js";
import { field, formValues, h, replace } from "../dom.js";
import { formatPhone, t } from "../i18n.js";
import { navigate, queryParams, setQueryParams } from "../router.js";
import { userName, users } from "../session.js";
import { errorText, showFieldErrors } from "../ui.js";
import { exportLinks } from "../exports.js";
import { duplicateMessage } from "./contact.js";
import { scoreBadge } from "../score.js";

export async function render(main) {
  await users();
  const results = h("div", { "aria-live": "polite" });
  const search = h("input", { type: "search", id: "contact-search", value: queryParams().q || "",
    "aria-label": t("contact.search"), placeholder: t("contact.search") });
  let timer = null;
  const order = h("select", { id: "contacts-sort", "aria-label": t("score.sort_label"), on: { change: () => load() } },
    h("option", { value: "name", selected: queryParams().sort !== "-score" }, t("contact.name")),
    h("option", { value: "-score", selected: queryParams().sort === "-score" }, t("score.sort_score")));
  const exports = exportLinks("/api/v1/contacts", { q: search.value.trim() }, { id: "contacts-export" });
  const load = async () => {
    setQueryParams({ q: search.value.trim(), sort: order.value === "-score" ? "-score" : "" });
    exports.update({ q: search.value.trim() });
    try {
      const list = itemsOf(await api.get("/api/v1/contacts", { q: search.value.trim(), limit: 50, sort: order.value }));
      replace(results, list.length ? h("table", { class: "data" },
        h("thead", {}, h("tr", {}, h("th", {}, t("contact.name")), h("th", {}, t("contact.company")),
          h("th", {}, t("contact.phones")), h("th", {}, t("contact.owner")), h("th", {}, t("score.title")))),
        h("tbody", {}, list.map((c) => h("tr", {},
          h("td", {}, h("a", { href: `/contacts/${c.id}` }, c.name)),
          h("td", {}, c.company || ""),
          h("td", {}, (c.phones || []).map((p, i) => [i ? ", " : "", h("span", { class: "phone" }, formatPhone(p.normalized || p.raw))])),
          h("td", {}, userName(c.owner_id)),
          h("td", {}, scoreBadge(c.score)))))) : h("p", { class: "muted" }, t("contact.none")));
    } catch (err) {
      replace(results, h("p", { class: "form-status" }, errorText(err)));
    }
  };
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 250); });
  const form = h("form", { class: "panel", "aria-labelledby": "new-contact-title" },
    h("h2", { id: "new-contact-title" }, t("contact.new")),
    h("div", { class: "form-grid" },
      field(t("contact.name"), h("input", { name: "name", required: true })),
      field(t("contact.company"), h("input", { name: "company" })),
      field(t("contact.phones"), h("input", { name: "phone", type: "tel" })),
      field(t("contact.email"), h("input", { name: "email", type: "email" }))),
    h("p", { class: "form-status", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("common.add"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = formValues(form);
    const status = form.querySelector(".form-status");
    status.replaceChildren();
    try {
      const created = await api.post("/api/v1/contacts", {
        name: data.name, company: data.company, email: data.email,
        phones: data.phone ? [{ raw: data.phone }] : [],
      });
      navigate(`/contacts/${created.id}`);
    } catch (err) {
      duplicateMessage(status, err) || showFieldErrors(form, err) || (status.textContent = errorText(err));
    }
  });
  replace(main, h("h1", {}, t("contact.title")),
    h("div", { class: "toolbar" }, search, order, exports, h("a", { href: "/import", class: "button secondary small" }, t("import.title"))),
    results, h("div", { style: { marginTop: "1rem" } }, form));
  await load();
}

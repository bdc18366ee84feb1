// The public pool (公海): contacts nobody holds. Sellers claim; heads also assign to a seller.

import { api, itemsOf } from "../api.js";
import { h, options, replace } from "../dom.js";
import { formatDateTime, formatRelative, t } from "../i18n.js";
import { isHead, session, users } from "../session.js";
import { errorText } from "../ui.js";
import { assignContact, claimContact, reasonText } from "../pool.js";

export async function render(main) {
  const sellers = (await users()).filter((u) => u.active !== false && u.role === "seller");
  const results = h("div", { "aria-live": "polite" });
  const search = h("input", { type: "search", id: "pool-search", "aria-label": t("pool.search"), placeholder: t("pool.search") });
  let timer = null;

  const load = async () => {
    try {
      const page = await api.get("/api/v1/pool", { q: search.value.trim(), limit: 100 });
      const list = itemsOf(page);
      replace(results, list.length ? h("table", { class: "data", "data-testid": "pool-table" },
        h("thead", {}, h("tr", {},
          h("th", {}, t("contact.name")), h("th", {}, t("contact.company")),
          h("th", {}, t("pool.why")), h("th", { class: "num" }, t("pool.times")),
          h("th", {}, t("pool.previous_owner")), h("th", {}, t("pool.last_activity")),
          h("th", {}, t("pool.since")), h("th", {}, ""))),
        h("tbody", {}, list.map(row))) : h("p", { class: "muted" }, t("pool.empty")));
    } catch (err) {
      replace(results, h("p", { class: "form-status" }, errorText(err)));
    }
  };

  const row = (entry) => {
    const actions = h("td", { class: "actions" });
    const tr = h("tr", { "data-testid": "pool-row", dataset: { contactId: entry.contact_id } },
      h("td", {}, entry.name), h("td", {}, entry.company || ""),
      h("td", {}, reasonText(entry.kind, entry.reason)),
      h("td", { class: "num" }, String(entry.times_returned)),
      h("td", {}, entry.previous_owner_name || "—"),
      h("td", {}, entry.last_activity ? formatRelative(entry.last_activity) : "—"),
      h("td", {}, formatDateTime(entry.pooled_at)),
      actions);
    const taken = (contact) => replace(actions, h("a", { href: `/contacts/${contact.id}`, "data-testid": "pool-taken" },
      contact.owner_id === session.user?.id ? t("pool.now_yours") : t("pool.taken")));
    actions.append(h("button", { type: "button", class: "primary small", "data-testid": "pool-claim",
      on: { click: async () => { const c = await claimContact(entry.contact_id); if (c) taken(c); } } }, t("pool.claim")));
    if (isHead() && sellers.length) {
      const pick = h("select", { "aria-label": t("pool.assign_to", { name: entry.name }) },
        options(sellers.map((u) => [u.id, u.display_name || u.login])));
      actions.append(" ", pick, " ", h("button", { type: "button", class: "secondary small",
        on: { click: async () => { const c = await assignContact(entry.contact_id, pick.value); if (c) taken(c); } } },
      t("pool.assign")));
    }
    return tr;
  };

  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 250); });
  replace(main, h("h1", {}, t("pool.title")), h("p", { class: "muted" }, t("pool.intro")), h("p", {}, search), results);
  await load();
}

// The contact page: phones (click-to-call), company, deals, call history, duplicate hint, and its
// place in the public pool (release with a reason, claim, the pool history).

import { api, itemsOf } from "../api.js";
import { newDealDialog, normalizeDeal } from "../deals.js";
import { field, formValues, h, replace } from "../dom.js";
import { formatMoney, formatPhone, t, tOr } from "../i18n.js";
import { navigate } from "../router.js";
import { clickToCall } from "../pops.js";
import { scorePanel } from "../score.js";
import { stageById, pipelines, userName, users } from "../session.js";
import { errorText, failed, loading, showFieldErrors, toast } from "../ui.js";
import { duplicatesOf, mergeDialog, reasonsText } from "../merge.js";
import { callList, taskList } from "./deal.js";
import { exportLinks } from "../exports.js";
import { poolPanel, poolActions } from "./contact_pool.js";

export async function render(main, params) {
  loading(main);
  const id = Number(params.id);
  let contact;
  try {
    contact = await api.get(`/api/v1/contacts/${id}`);
  } catch (err) {
    failed(main, err);
    return;
  }
  if (contact.id !== id) {
    // A merged contact's id redirects to the contact it joined: show that one under its own URL.
    navigate(`/contacts/${contact.id}`, { replace: true });
    return;
  }
  const [deals, activities, similar, poolEvents] = await Promise.all([
    api.get("/api/v1/deals", { contact: id, limit: 100 }).then((a) => itemsOf(a).map(normalizeDeal)).catch(() => []),
    api.get("/api/v1/activities", { contact_id: id, limit: 100 }).then(itemsOf).catch(() => []),
    duplicatesOf(contact.id),
    api.get(`/api/v1/contacts/${id}/pool-events`).catch(() => []),
    pipelines(),
    users(),
  ]);
  const refresh = () => render(main, params);
  replace(main,
    h("div", { class: "page-header" },
      h("h1", { id: "contact-name" }, contact.name),
      contact.company ? h("span", { class: "muted" }, contact.company) : null,
      h("button", { type: "button", class: "primary small", on: { click: async () => {
        const created = await newDealDialog({ contact });
        if (created) navigate(`/deals/${created.id}`);
      } } }, "+ ", t("deal.new")),
      poolActions(contact, refresh)),
    duplicateHint(contact, similar, refresh),
    h("div", { class: "grid-2" },
      scorePanel("contact", contact.id),
      h("section", { class: "panel", "aria-labelledby": "contact-phones" },
        h("h2", { id: "contact-phones" }, t("contact.phones")),
        h("ul", { class: "timeline" }, (contact.phones || []).map((p) => h("li", {},
          h("span", {}, h("a", { class: "phone", href: `tel:${p.normalized || p.raw}` }, formatPhone(p.normalized || p.raw)),
            p.label ? h("span", { class: "muted" }, ` · ${p.label}`) : null),
          h("span", {},
            h("button", { type: "button", class: "success small", on: { click: () => clickToCall({ number: p.normalized || p.raw }) } },
              "☎ ", t("deal.call")), " ",
            h("button", { type: "button", class: "icon-button", "aria-label": t("contact.remove_phone", { phone: formatPhone(p.normalized || p.raw) }),
              on: { click: async () => {
                try {
                  await api.delete(`/api/v1/contacts/${contact.id}/phones/${p.id}`);
                  refresh();
                } catch (err) {
                  toast(errorText(err), "error");
                }
              } } }, "×"))))),
        h("dl", { class: "facts" },
          h("dt", {}, t("contact.company")), h("dd", {}, contact.company || "—"),
          h("dt", {}, t("contact.email")), h("dd", {}, contact.email ? h("a", { href: `mailto:${contact.email}` }, contact.email) : "—"),
          h("dt", {}, t("contact.owner")), h("dd", { "data-testid": "contact-owner" },
            contact.pooled_at ? t("pool.in_pool") : userName(contact.owner_id) || "—")),
        editForm(contact, refresh)),
      h("section", { class: "panel", "aria-labelledby": "contact-deals" },
        h("h2", { id: "contact-deals" }, t("contact.deals")),
        deals.length ? h("table", { class: "data" }, h("tbody", {}, deals.map((d) => {
          const stage = stageById(d.stage_id);
          return h("tr", {},
            h("td", {}, h("a", { href: `/deals/${d.id}` }, d.title)),
            h("td", {}, stage ? (stage.is_unsorted ? tOr("stage.unsorted", stage.name) : stage.name) : ""),
            h("td", { class: "num" }, formatMoney(d.amount, d.currency)));
        }))) : h("p", { class: "muted" }, t("contact.no_deals")),
        h("h3", {}, t("deal.tasks")),
        taskList(activities.filter((a) => a.kind === "task"), refresh))),
    h("section", { class: "panel", style: { marginTop: "1rem" }, "aria-labelledby": "contact-calls" },
      h("h2", { id: "contact-calls" }, t("contact.calls")),
      exportLinks("/api/v1/activities", { kind: "call", contact_id: id }, { id: "calls-export" }),
      callList(activities.filter((a) => a.kind === "call"))),
    poolPanel(poolEvents));
}

/** Likely duplicates (查重) with their reasons, each with a merge button. */
function duplicateHint(contact, similar, refresh) {
  if (!similar.items.length && !similar.hidden) return null;
  return h("div", { class: "notice", role: "note", "data-testid": "duplicate-hint" },
    h("p", {}, t("contact.possible_duplicates")),
    h("ul", {}, similar.items.map((c) => h("li", { "data-contact-id": c.contact_id },
      h("a", { href: `/contacts/${c.contact_id}` }, c.name, c.company ? ` (${c.company})` : ""),
      " ", h("span", { class: "muted" }, t("duplicates.score", { score: c.score }), " · ", reasonsText(c)), " ",
      h("button", { type: "button", class: "secondary small", on: { click: async () => {
        try {
          if (await mergeDialog(contact, c.contact_id)) {
            toast(t("duplicates.merged"), "success");
            refresh();
          }
        } catch (err) {
          toast(errorText(err), "error");
        }
      } } }, t("duplicates.merge"))))),
    similar.hidden ? h("p", { class: "muted" }, t("duplicates.hidden", { count: similar.hidden })) : null);
}

function editForm(contact, refresh) {
  const form = h("form", { "aria-label": t("common.edit") },
    h("h3", {}, t("common.edit")),
    h("div", { class: "form-grid" },
      field(t("contact.name"), h("input", { name: "name", value: contact.name, required: true })),
      field(t("contact.company"), h("input", { name: "company", value: contact.company || "" })),
      field(t("contact.email"), h("input", { name: "email", type: "email", value: contact.email || "" })),
      field(t("contact.add_phone"), h("input", { name: "phone", type: "tel", autocomplete: "off" }))),
    h("p", { class: "form-status", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary small" }, t("common.save"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = formValues(form);
    const status = form.querySelector(".form-status");
    status.replaceChildren();
    try {
      await api.patch(`/api/v1/contacts/${contact.id}`, {
        name: data.name, company: data.company ?? null, email: data.email ?? null,
      });
      if (data.phone) await api.post(`/api/v1/contacts/${contact.id}/phones`, { raw: data.phone });
      toast(t("admin.saved"), "success");
      refresh();
    } catch (err) {
      duplicateMessage(status, err) || showFieldErrors(form, err) || (status.textContent = errorText(err));
    }
  });
  return form;
}

/** A 409 on a phone names the contact that already has it: say so, with a link. */
export function duplicateMessage(status, err) {
  if (err?.status !== 409) return false;
  const details = err.problem?.details || {};
  const other = details.contact ?? (details.contact_id ? { id: details.contact_id, name: details.contact_name } : null);
  if (!other) return false;
  status.replaceChildren(t("contact.duplicate", { name: other.name || `#${other.id}` }), " ",
    h("a", { href: `/contacts/${other.id}` }, t("contact.duplicate_link", { name: other.name || `#${other.id}` })));
  return true;
}

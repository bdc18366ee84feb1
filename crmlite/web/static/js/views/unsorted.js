// The Unsorted inbox: deals calls created wait here until a person accepts, declines or merges them.

import { api, itemsOf } from "../api.js";
import { field, formValues, h, options, replace } from "../dom.js";
import { formatDateTime, formatNumber, formatPhone, formatRelative, t } from "../i18n.js";
import { isHead, pipelines, session, users } from "../session.js";
import { errorText, failed, loading, openDialog, toast } from "../ui.js";

const DECLINE_REASONS = ["spam", "wrong_number", "service_request"];

export async function render(main) {
  loading(main);
  let items;
  try {
    [items] = await Promise.all([api.get("/api/v1/inbox", { limit: 100 }).then(itemsOf), pipelines(), users()]);
  } catch (err) {
    failed(main, err);
    return undefined;
  }
  const reload = () => render(main);
  window.addEventListener("deals-changed", reload);
  replace(main,
    h("h1", {}, t("unsorted.title")),
    h("p", { class: "hint" }, t("unsorted.hint")),
    items.length ? h("table", { class: "data panel", "data-testid": "inbox" },
      h("thead", {}, h("tr", {}, [t("deal.title"), t("deal.contact"), t("contact.phones"), t("reports.calls"), t("deal.created_at"), ""]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, items.map((item) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `/deals/${item.deal_id}` }, item.title)),
        h("td", {}, item.contact_id ? h("a", { href: `/contacts/${item.contact_id}` }, item.contact_name || `#${item.contact_id}`) : "—"),
        h("td", { class: "phone" }, formatPhone(item.phone)),
        h("td", { class: "num" }, formatNumber(item.calls), item.last_call_at ? h("div", { class: "muted" }, formatRelative(item.last_call_at)) : null),
        h("td", {}, formatDateTime(item.created_at)),
        h("td", {}, h("div", { class: "actions", style: { justifyContent: "flex-start", marginTop: 0 } },
          h("button", { type: "button", class: "primary small", on: { click: () => accept(item, reload) } }, t("unsorted.accept")),
          h("button", { type: "button", class: "secondary small", on: { click: () => decline(item, reload) } }, t("unsorted.decline")),
          item.contact_id ? h("button", { type: "button", class: "secondary small", on: { click: () => merge(item, reload) } }, t("unsorted.merge")) : null))))))
      : h("p", { class: "panel muted" }, t("unsorted.none")));
  return () => window.removeEventListener("deals-changed", reload);
}

async function decide(title, body, submit, reload) {
  const done = await openDialog(title, body, { onSubmit: submit });
  if (done) {
    toast(t("unsorted.done"), "success");
    reload();
  }
}

function accept(item, reload) {
  const pipeline = (session.pipelines || []).find((p) => p.id === item.pipeline_id);
  const stages = (pipeline?.stages || []).filter((s) => s.kind === "open" && !s.is_unsorted);
  const body = h("div", { class: "form-grid" },
    field(t("deal.stage"), h("select", { name: "stage_id" }, options(stages.map((s) => [s.id, s.name]), stages[0]?.id))),
    isHead() ? field(t("deal.owner"), h("select", { name: "owner_id" },
      options([["", t("deal.owner_me")], ...(session.users || []).map((u) => [u.id, u.display_name || u.login])], ""))) : null);
  decide(`${t("unsorted.accept")}: ${item.title}`, body, (form) => {
    const data = formValues(form);
    return api.post(`/api/v1/inbox/${item.deal_id}/accept`,
      { stage_id: Number(data.stage_id), owner_id: data.owner_id ? Number(data.owner_id) : undefined });
  }, reload);
}

function decline(item, reload) {
  const body = h("div", {},
    field(t("unsorted.decline_reason"), h("select", { name: "reason" },
      options(DECLINE_REASONS.map((r) => [r, t(`unsorted.reason.${r}`)]), "spam"))),
    h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "block_number", value: "yes" }), t("unsorted.block_number")));
  decide(`${t("unsorted.decline")}: ${item.title}`, body, (form) => {
    const data = formValues(form);
    return api.post(`/api/v1/inbox/${item.deal_id}/decline`, { reason: data.reason, block_number: data.block_number === "yes" });
  }, reload);
}

async function merge(item, reload) {
  let deals = [];
  try {
    deals = itemsOf(await api.get("/api/v1/deals", { contact: item.contact_id, status: "open", limit: 50 }))
      .filter((d) => d.id !== item.deal_id);
  } catch (err) {
    toast(errorText(err), "error");
    return;
  }
  const body = field(t("unsorted.merge_into"), h("select", { name: "into_deal_id", required: true },
    options(deals.map((d) => [d.id, `${d.title} — ${d.stage_name}`]), deals[0]?.id)));
  decide(`${t("unsorted.merge")}: ${item.title}`, body, (form) =>
    api.post(`/api/v1/inbox/${item.deal_id}/merge`, { into_deal_id: Number(formValues(form).into_deal_id) }), reload);
}

// The deal page: details, stage timeline with time in each stage, calls, notes, tasks, click-to-call.

import { api, itemsOf } from "../api.js";
import { normalizeDeal, moveDeal } from "../deals.js";
import { field, formValues, h, options, replace } from "../dom.js";
import {
  formatDate, formatDateTime, formatDuration, formatMoney, formatPhone, t, tOr,
} from "../i18n.js";
import { clickToCall } from "../pops.js";
import { scorePanel } from "../score.js";
import { isHead, pipelines, session, userName, users } from "../session.js";
import { errorText, failed, loading, showFieldErrors, toast } from "../ui.js";

/** Stays in each stage from the history: entered at, left at (null while still there). */
export function stays(history, now = new Date()) {
  const ordered = [...history].sort((a, b) => new Date(a.changed_at) - new Date(b.changed_at));
  return ordered.map((entry, i) => {
    const left = ordered[i + 1]?.changed_at ?? null;
    const end = left ? new Date(left) : now;
    return {
      stageId: entry.to_stage_id,
      stageName: entry.to_stage_name ?? entry.to_stage?.name,
      by: entry.changed_by_name ?? entry.changed_by?.display_name,
      entered: entry.changed_at,
      left,
      seconds: Math.max(0, (end - new Date(entry.changed_at)) / 1000),
    };
  });
}

export async function render(main, params) {
  loading(main);
  const id = Number(params.id);
  let deal;
  try {
    deal = normalizeDeal(await api.get(`/api/v1/deals/${id}`));
  } catch (err) {
    failed(main, err);
    return undefined;
  }
  const [allPipelines, history, activities, contact] = await Promise.all([
    pipelines(),
    api.get(`/api/v1/deals/${id}/history`).then(itemsOf).catch(() => []),
    api.get("/api/v1/activities", { deal_id: id, limit: 100 }).then(itemsOf).catch(() => []),
    deal.contact?.id ? api.get(`/api/v1/contacts/${deal.contact.id}`).catch(() => deal.contact) : null,
    users(),
  ]);
  const pipeline = allPipelines.find((p) => p.id === deal.pipeline_id);
  const stage = pipeline?.stages?.find((s) => s.id === deal.stage_id);
  const refresh = () => render(main, params);
  const onChange = () => refresh();
  window.addEventListener("deals-changed", onChange);

  replace(main,
    h("div", { class: "page-header" },
      h("h1", { id: "deal-title" }, deal.title),
      stage ? h("span", { class: ["stage-pill", `kind-${stage.kind}`], "data-testid": "deal-stage" },
        stage.is_unsorted ? tOr("stage.unsorted", stage.name) : stage.name) : null,
      pipeline ? h("a", { href: `/board/${pipeline.id}` }, pipeline.name) : null),
    h("div", { class: "grid-2" },
      h("section", { class: "panel", "aria-labelledby": "deal-details" },
        h("h2", { id: "deal-details" }, t("deal.details")),
        detailsList(deal, contact),
        contact?.phones?.length ? h("div", { class: "actions", style: { justifyContent: "flex-start" } },
          contact.phones.map((p) => h("button", { type: "button", class: "success small",
            "aria-label": `${t("deal.call")} ${formatPhone(p.normalized || p.raw)}`,
            on: { click: () => clickToCall({ number: p.normalized || p.raw }) } },
          "☎ ", h("span", { class: "phone" }, formatPhone(p.normalized || p.raw))))) : null,
        editForm(deal, pipeline, refresh)),
      h("section", { class: "panel", "aria-labelledby": "deal-timeline" },
        h("h2", { id: "deal-timeline" }, t("deal.timeline")),
        timeline(history)),
      scorePanel("deal", deal.id)),
    h("div", { class: "grid-2", style: { marginTop: "1rem" } },
      h("section", { class: "panel wide", "aria-labelledby": "deal-calls" },
        h("h2", { id: "deal-calls" }, t("deal.calls")),
        callList(activities.filter((a) => a.kind === "call"))),
      h("section", { class: "panel", "aria-labelledby": "deal-notes" },
        h("h2", { id: "deal-notes" }, t("deal.notes")),
        noteForm(deal, refresh),
        activityList(activities.filter((a) => a.kind === "note"), "deal.no_notes")),
      h("section", { class: "panel", "aria-labelledby": "deal-tasks" },
        h("h2", { id: "deal-tasks" }, t("deal.tasks")),
        taskForm(deal, refresh),
        taskList(activities.filter((a) => a.kind === "task"), refresh))),
    h("section", { class: "panel", id: "deal-quotes-panel", style: { marginTop: "1rem" }, "aria-labelledby": "deal-quotes" }));
  import("../quotes.js").then(({ renderQuotes }) =>
    renderQuotes(main.querySelector("#deal-quotes-panel"), deal, refresh));
  return () => window.removeEventListener("deals-changed", onChange);
}

function detailsList(deal, contact) {
  const rows = [
    [t("deal.amount"), formatMoney(deal.amount, deal.currency, { maximumFractionDigits: 2 })],
    [t("deal.contact"), contact ? h("a", { href: `/contacts/${contact.id}` }, contact.name) : "—"],
    [t("contact.company"), contact?.company || "—"],
    [t("deal.owner"), deal.owner?.display_name || userName(deal.owner_id) || t("deal.no_owner")],
    [t("deal.source"), tOr(`deal.source.${deal.source}`, deal.source || "—")],
    [t("deal.created_at"), formatDateTime(deal.created_at)],
    [t("deal.expected_close"), formatDate(deal.expected_close_date)],
  ];
  if (deal.closed_at) rows.push([t("deal.closed_at"), formatDateTime(deal.closed_at)]);
  if (deal.lost_reason) rows.push([t("deal.lost_reason"), deal.lost_reason]);
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function editForm(deal, pipeline, refresh) {
  const stageSelect = h("select", { name: "stage_id", id: "deal-stage-select" },
    options((pipeline?.stages || []).map((s) => [s.id, s.is_unsorted ? tOr("stage.unsorted", s.name) : s.name]), deal.stage_id));
  const reason = field(t("deal.lost_reason"), h("input", { name: "lost_reason", maxlength: 200, value: deal.lost_reason || "" }));
  const syncReason = () => {
    const chosen = pipeline?.stages?.find((s) => String(s.id) === stageSelect.value);
    reason.hidden = chosen?.kind !== "lost";
  };
  stageSelect.addEventListener("change", syncReason);
  syncReason();
  const owners = isHead() ? (session.users || []).map((u) => [u.id, u.display_name || u.login]) : null;
  const form = h("form", { class: "deal-edit", "aria-label": t("common.edit") },
    h("h3", {}, t("common.edit")),
    h("div", { class: "form-grid" },
      field(t("deal.title"), h("input", { name: "title", value: deal.title, required: true, maxlength: 200 })),
      field(t("deal.amount"), h("input", { name: "amount", type: "number", min: 0, step: "0.01", value: deal.amount ?? "" })),
      field(t("deal.expected_close"), h("input", { name: "expected_close_date", type: "date", value: deal.expected_close_date || "" })),
      owners ? field(t("deal.owner"), h("select", { name: "owner_id" }, options([["", t("deal.no_owner")], ...owners], deal.owner_id ?? ""))) : null,
      field(t("deal.move_stage"), stageSelect),
      reason),
    h("p", { class: "form-status", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("common.save"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = formValues(form);
    const status = form.querySelector(".form-status");
    status.textContent = "";
    try {
      const changes = {};
      if (data.title !== deal.title) changes.title = data.title;
      if ((data.amount ?? "") !== String(deal.amount ?? "")) changes.amount = data.amount ?? "0";
      if ((data.expected_close_date ?? null) !== (deal.expected_close_date ?? null)) changes.expected_close_date = data.expected_close_date ?? null;
      if (owners && String(data.owner_id ?? "") !== String(deal.owner_id ?? "")) changes.owner_id = data.owner_id ? Number(data.owner_id) : null;
      let current = deal;
      if (Object.keys(changes).length) {
        if (deal.version !== undefined) changes.expected_version = deal.version;
        current = normalizeDeal(await api.patch(`/api/v1/deals/${deal.id}`, changes));
      }
      if (Number(data.stage_id) !== deal.stage_id) {
        await moveDeal(current, data.stage_id, data.lost_reason ? { lost_reason: data.lost_reason } : {});
      }
      toast(t("deal.updated"), "success");
      refresh();
    } catch (err) {
      if (!showFieldErrors(form, err)) status.textContent = errorText(err);
    }
  });
  return form;
}

function timeline(history) {
  if (!history.length) return h("p", { class: "muted" }, "—");
  const items = stays(history);
  const longest = Math.max(...items.map((s) => s.seconds), 1);
  return h("ol", { class: "timeline", "data-testid": "timeline" }, items.map((stay) =>
    h("li", {},
      h("strong", {}, stay.stageName),
      h("span", { class: "when" }, t(stay.left ? "deal.stayed" : "deal.still_here", { duration: formatDuration(stay.seconds) })),
      h("span", { class: "when" }, t("deal.entered", { when: formatDateTime(stay.entered) }), stay.by ? ` · ${stay.by}` : ""),
      h("span"),
      h("span", { class: "bar", style: { width: `${Math.max(1, (100 * stay.seconds) / longest)}%` }, "aria-hidden": "true" }))));
}

export function callList(calls) {
  if (!calls.length) return h("p", { class: "muted" }, t("deal.no_calls"));
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {},
      h("th", {}, t("deal.created_at")), h("th", {}, ""), h("th", {}, t("contact.phones")),
      h("th", { class: "num" }, t("call.duration")), h("th", {}, t("call.outcome")))),
    h("tbody", {}, calls.map((c) => h("tr", {},
      h("td", {}, formatDateTime(c.started_at || c.created_at)),
      h("td", {}, tOr(`call.${c.direction}`, c.direction || "")),
      h("td", { class: "phone" }, formatPhone(c.direction === "outbound" ? c.to_number : c.from_number)),
      h("td", { class: "num" }, formatDuration(c.duration_s ?? 0)),
      h("td", {}, tOr(`outcome.${c.outcome}`, c.outcome || ""),
        c.recording_url ? [" ", h("a", { href: c.recording_url, rel: "noopener" }, t("call.recording"))] : null)))));
}

function activityList(items, emptyKey) {
  if (!items.length) return h("p", { class: "muted" }, t(emptyKey));
  return h("div", {}, items.map((a) => h("div", { class: "activity" },
    h("div", { class: "when" }, formatDateTime(a.created_at), a.author_name || a.author?.display_name ? ` · ${a.author_name || a.author.display_name}` : ""),
    h("div", {}, a.body || a.title || ""))));
}

function noteForm(deal, refresh) {
  const form = h("form", {},
    field(t("deal.add_note"), h("textarea", { name: "body", id: "note-body", required: true, rows: 2 })),
    h("p", { class: "form-status", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary small" }, t("common.add"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post("/api/v1/activities", { kind: "note", deal_id: deal.id, contact_id: deal.contact?.id ?? undefined, body: formValues(form).body });
      toast(t("deal.note_saved"), "success");
      refresh();
    } catch (err) {
      if (!showFieldErrors(form, err)) form.querySelector(".form-status").textContent = errorText(err);
    }
  });
  return form;
}

function taskForm(deal, refresh) {
  const form = h("form", { class: "form-grid" },
    field(t("deal.task_title"), h("input", { name: "title", required: true, maxlength: 200 })),
    field(t("deal.task_due"), h("input", { name: "due_at", type: "datetime-local", required: true })),
    h("p", { class: "form-status", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary small" }, t("deal.add_task"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = formValues(form);
    try {
      await api.post("/api/v1/tasks", {
        title: data.title, due_at: new Date(data.due_at).toISOString(), deal_id: deal.id,
        contact_id: deal.contact?.id ?? undefined,
        assignee_id: isHead() && deal.owner_id ? deal.owner_id : undefined,
      });
      refresh();
    } catch (err) {
      if (!showFieldErrors(form, err)) form.querySelector(".form-status").textContent = errorText(err);
    }
  });
  return form;
}

export function taskList(tasks, refresh) {
  const open = tasks.filter((task) => !task.done_at);
  if (!open.length) return h("p", { class: "muted" }, t("deal.no_tasks"));
  return h("ul", { class: "timeline" }, open.map((task) => {
    const overdue = task.due_at && new Date(task.due_at) < new Date();
    return h("li", {},
      h("span", {}, task.title || task.body, overdue ? h("strong", { style: { color: "var(--danger)" } }, ` · ${t("tasks.overdue")}`) : null),
      h("button", { type: "button", class: "secondary small", on: { click: async () => {
        try {
          await api.patch(`/api/v1/tasks/${task.id}`, { done: true });
          refresh();
        } catch (err) {
          toast(errorText(err), "error");
        }
      } } }, t("tasks.mark_done")),
      h("span", { class: "when" }, formatDateTime(task.due_at), task.assignee_id ? ` · ${userName(task.assignee_id)}` : ""));
  }));
}

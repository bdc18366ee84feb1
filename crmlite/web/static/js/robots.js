// Stage robots in the browser: the robots editor of a stage, stuck badges on board cards, and the
// robot notices that arrive over the pop socket. Everything is checked and done by the server.

import { api } from "./api.js";
import { field, formValues, h, options, replace } from "./dom.js";
import { t } from "./i18n.js";
import { pipelines, userName, users } from "./session.js";
import { errorText, showFieldErrors, toast } from "./ui.js";

const ACTIONS = {
  enter: ["create_task", "notify_owner", "set_field", "send_to_pipeline"],
  stuck: ["nudge"],
};

const robotsUrl = (pipelineId, stageId) => `/api/v1/pipelines/${pipelineId}/stages/${stageId}/robots`;

/** A button that opens a stage's robots (the stage editor's row; the heads' stuck-deals screen). */
export function robotsButton(pipeline, stage, text = t("robots.button")) {
  return h("button", { type: "button", class: "secondary small", "data-testid": "stage-robots",
    "aria-label": t("robots.button_label", { name: stage.name }),
    on: { click: () => openRobots(pipeline, stage) } }, text);
}

/** A dialog listing the stage's robots, with a form to add one. */
export async function openRobots(pipeline, stage) {
  const list = h("ul", { class: "robot-list", "data-testid": "robot-list" });
  const form = h("form", { class: "robot-form", "aria-label": t("robots.add") });
  const dialog = h("dialog", { class: "dialog", "aria-label": t("robots.title", { name: stage.name }) },
    h("h2", {}, t("robots.title", { name: stage.name })), list,
    h("h3", {}, t("robots.add")), form,
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary",
      on: { click: () => dialog.close() } }, t("common.close"))));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  const [allPipelines, people] = await Promise.all([pipelines(), users()]);
  const reload = async () => {
    try {
      const robots = await api.get(robotsUrl(pipeline.id, stage.id));
      replace(list, robots.length ? robots.map((robot) => robotItem(pipeline, stage, robot, allPipelines, reload))
        : h("li", { class: "muted" }, t("robots.none")));
    } catch (err) {
      replace(list, h("li", { class: "form-status" }, errorText(err)));
    }
  };
  drawForm(form, pipeline, stage, { allPipelines, people }, reload);
  await reload();
  return dialog;
}

function robotItem(pipeline, stage, robot, allPipelines, reload) {
  const url = `${robotsUrl(pipeline.id, stage.id)}/${robot.id}`;
  const text = describe(robot, allPipelines);
  const act = async (promise, done) => {
    try {
      await promise;
      toast(done, "success");
    } catch (err) {
      toast(errorText(err), "error");
    }
    reload();
  };
  return h("li", { class: "robot-item", "data-robot-id": robot.id },
    h("label", { class: "checkbox" },
      h("input", { type: "checkbox", checked: robot.enabled, "aria-label": `${t("robots.enabled")}: ${text}`,
        on: { change: (e) => act(api.patch(url, { enabled: e.target.checked }), t("robots.saved")) } }),
      h("span", {}, text)),
    h("button", { type: "button", class: "icon-button", "aria-label": t("robots.remove", { what: text }),
      on: { click: () => act(api.delete(url), t("robots.removed")) } }, "✕"));
}

/** One line saying what a robot does. */
export function describe(robot, allPipelines = []) {
  const p = robot.params || {};
  switch (robot.action) {
    case "create_task":
      return t("robots.summary.create_task", { title: p.title, due: `${p.due_in ?? 0} ${t(`robots.unit.${p.due_unit || "days"}`)}`,
        who: p.assignee_id ? userName(p.assignee_id) : t("robots.summary.owner") });
    case "notify_owner":
      return p.message ? t("robots.summary.notify_owner_message", { message: p.message }) : t("robots.summary.notify_owner");
    case "set_field":
      return t("robots.summary.set_field", { what: [p.probability !== null && p.probability !== undefined ? `${p.probability}%` : null,
        p.add_tag ? `#${p.add_tag}` : null].filter(Boolean).join(", ") });
    case "send_to_pipeline":
      return t("robots.summary.send_to_pipeline", { pipeline: allPipelines.find((x) => x.id === p.pipeline_id)?.name ?? `#${p.pipeline_id}` });
    case "nudge":
      return [t("robots.summary.nudge", { days: p.days }),
        p.escalate_after_days ? t("robots.summary.escalate", { days: p.escalate_after_days }) : null,
        p.mark_stalled ? t("robots.summary.stalled") : null].filter(Boolean).join(" · ");
    default:
      return robot.action;
  }
}

function drawForm(form, pipeline, stage, known, reload) {
  const trigger = h("select", { name: "trigger" }, options(["enter", "stuck"].map((k) => [k, t(`robots.trigger.${k}`)]), "enter"));
  const action = h("select", { name: "action" });
  const params = h("div", { class: "form-grid robot-params" });
  const drawActions = () => {
    replace(action, options(ACTIONS[trigger.value].map((a) => [a, t(`robots.action.${a}`)]), ACTIONS[trigger.value][0]));
    drawParams();
  };
  const drawParams = () => replace(params, paramFields(action.value, pipeline, known));
  trigger.addEventListener("change", drawActions);
  action.addEventListener("change", drawParams);
  replace(form,
    h("div", { class: "form-grid" }, field(t("robots.trigger"), trigger), field(t("robots.action"), action)),
    params,
    h("p", { class: "form-status", role: "alert" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("robots.add"))));
  drawActions();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = form.querySelector(".form-status");
    status.textContent = "";
    try {
      await api.post(robotsUrl(pipeline.id, stage.id), { trigger: trigger.value, action: action.value, params: readParams(form) });
      toast(t("robots.saved"), "success");
      drawActions();
      reload();
    } catch (err) {
      if (!showFieldErrors(form, err)) status.textContent = errorText(err);
    }
  });
}

const NUMBERS = new Set(["due_in", "assignee_id", "probability", "pipeline_id", "stage_id", "days", "escalate_after_days"]);

/** The form's params.* fields as the API wants them: numbers as numbers, empty ones left out. */
export function readParams(form) {
  const out = {};
  for (const [key, value] of Object.entries(formValues(form))) {
    if (!key.startsWith("params.")) continue;
    const name = key.slice("params.".length);
    out[name] = NUMBERS.has(name) && /^-?\d+$/.test(value) ? Number(value) : value;
  }
  const stalled = form.querySelector('[name="params.mark_stalled"]');
  if (stalled) out.mark_stalled = stalled.checked;
  return out;
}

function paramFields(action, pipeline, { allPipelines, people }) {
  const input = (name, attrs = {}) => h("input", { name: `params.${name}`, ...attrs });
  switch (action) {
    case "create_task":
      return [
        field(t("robots.task_title"), input("title", { required: true, maxlength: 200 })),
        field(t("robots.due_in"), input("due_in", { type: "number", min: 0, value: 1 })),
        field(t("robots.due_unit"), h("select", { name: "params.due_unit" },
          options(["hours", "days"].map((u) => [u, t(`robots.unit.${u}`)]), "days"))),
        field(t("robots.assignee"), h("select", { name: "params.assignee_id" },
          options([["", t("robots.owner")], ...people.filter((u) => u.active !== false).map((u) => [u.id, u.display_name || u.login])], ""))),
      ];
    case "notify_owner":
      return [field(t("robots.message"), input("message", { maxlength: 500 }))];
    case "set_field":
      return [
        field(t("robots.probability"), input("probability", { type: "number", min: 0, max: 100 })),
        field(t("robots.tag"), input("add_tag", { maxlength: 50 })),
      ];
    case "send_to_pipeline": {
      const others = allPipelines.filter((p) => p.id !== pipeline.id);
      const target = h("select", { name: "params.pipeline_id", required: true }, options(others.map((p) => [p.id, p.name]), others[0]?.id));
      const stageSelect = h("select", { name: "params.stage_id" });
      const drawStages = () => {
        const chosen = others.find((p) => String(p.id) === target.value);
        replace(stageSelect, options([["", t("robots.first_stage")],
          ...(chosen?.stages || []).filter((s) => !s.is_unsorted).map((s) => [s.id, s.name])], ""));
      };
      target.addEventListener("change", drawStages);
      drawStages();
      return [field(t("robots.pipeline"), target), field(t("robots.stage"), stageSelect)];
    }
    case "nudge":
      return [
        field(t("robots.days"), input("days", { type: "number", min: 1, max: 365, value: 3, required: true })),
        field(t("robots.escalate_after"), input("escalate_after_days", { type: "number", min: 1, max: 365 })),
        field(t("robots.task_title"), input("task_title", { maxlength: 200 })),
        h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "params.mark_stalled" }), t("robots.mark_stalled")),
      ];
    default:
      return [];
  }
}

// --- Stuck deals on the board ------------------------------------------------------------------

/** Stuck deals of a pipeline as a Map of deal id to what the badge shows (empty on failure). */
export async function loadStuck(pipelineId) {
  try {
    const answer = await api.get("/api/v1/stuck-deals", { pipeline_id: pipelineId });
    return new Map(answer.sellers.flatMap((s) => s.deals).map((d) => [d.deal_id, d]));
  } catch {
    return new Map();
  }
}

/** The card's badge: stuck for how many days, and the stalled flag. */
export function stuckBadge(stuck) {
  if (!stuck) return null;
  return h("div", { class: "card-stuck", "data-testid": "stuck-badge", title: t("stuck.hint", { days: stuck.threshold_days }) },
    h("span", { class: "badge badge-warning" }, t("stuck.badge", { days: stuck.idle_days })),
    stuck.stalled ? h("span", { class: "badge badge-danger" }, t("stuck.stalled")) : null);
}

// --- Notices over the pop socket ---------------------------------------------------------------

/** A robot's notice: a card that stays until closed, with a link to the deal. */
export function showRobotNotice(message) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const key = message.step === "escalate" ? "robots.notice.escalate" : message.step === "nudge" ? "robots.notice.nudge" : "robots.notice.notify";
  const text = t(key, { title: message.deal_title, days: message.idle_days ?? 0, stage: message.stage, message: message.message || "" });
  const card = h("div", { class: "toast robot-notice", role: "status", "data-testid": "robot-notice" },
    h("span", {}, text, " "),
    h("a", { href: `/deals/${message.deal_id}`, on: { click: () => card.remove() } }, t("robots.open_deal")),
    h("button", { type: "button", class: "icon-button", "aria-label": t("common.close"), on: { click: () => card.remove() } }, "×"));
  box.append(card);
}

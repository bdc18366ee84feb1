// Administration: users and their extensions, pipelines and stages, call-to-deal rules, PBX status.

import { api, itemsOf } from "../api.js";
import { field, formValues, h, options, replace } from "../dom.js";
import { formatDateTime, formatNumber, t } from "../i18n.js";
import { isAdmin, pipelines, session } from "../session.js";
import { errorText, failed, loading, openDialog, showFieldErrors, toast } from "../ui.js";
import { robotsButton } from "../robots.js";

const SECTIONS = [
  ["users", "admin.users"],
  ["pipelines", "admin.pipelines"],
  ["rules", "admin.rules"],
  ["pbx", "admin.pbx"],
  ["products", "admin.products"],
];

export async function render(main, params) {
  if (!isAdmin()) {
    failed(main, { status: 403 });
    return undefined;
  }
  const section = params.section || "users";
  const body = h("div", { id: "admin-body" });
  replace(main, h("h1", {}, t("admin.title")),
    h("nav", { class: "tabs", "aria-label": t("admin.title") },
      SECTIONS.map(([key, label]) => h("a", { href: `/admin/${key}`, "aria-current": key === section ? "page" : null }, t(label)))),
    body);
  loading(body);
  const draw = { users: usersSection, pipelines: pipelinesSection, rules: rulesSection, pbx: pbxSection,
    products: (el) => import("../products.js").then((m) => m.productsSection(el)) }[section];
  if (!draw) {
    failed(body, { status: 404 });
    return undefined;
  }
  return draw(body);
}

/**
 * "101, PJSIP/101, Local/101@from-queue/n, east:102" -> identities with their kinds; a "pbx:"
 * prefix names the office's PBX (no PBX name has a colon, nor has an Asterisk channel name).
 */
export function parseIdentities(text) {
  return (text || "").split(",").map((v) => v.trim()).filter(Boolean).map((item) => {
    const colon = item.indexOf(":");
    const pbx = colon > 0 ? item.slice(0, colon).trim() : null;
    const value = colon > 0 ? item.slice(colon + 1).trim() : item;
    const kind = /^\d+$/.test(value) ? "extension" : value.startsWith("Local/") ? "queue_member" : "interface";
    return pbx ? { kind, value, pbx } : { kind, value };
  });
}

/** The editor's text for identities: "east:101, 150" (no prefix: every PBX). */
export function identitiesText(identities) {
  return (identities || []).map((i) => (i.pbx ? `${i.pbx}:${i.value}` : i.value)).join(", ");
}

async function usersSection(body) {
  let list;
  try {
    list = itemsOf(await api.get("/api/v1/users", { include_inactive: true }));
  } catch (err) {
    failed(body, err);
    return;
  }
  const details = await Promise.all(list.map((u) => api.get(`/api/v1/users/${u.id}`).catch(() => u)));
  const reload = () => usersSection(body);
  replace(body,
    h("div", { class: "actions", style: { justifyContent: "flex-start" } },
      h("button", { type: "button", class: "primary", on: { click: () => userDialog(null, reload) } }, "+ ", t("admin.new_user"))),
    h("table", { class: "data panel", "data-testid": "users-table" },
      h("thead", {}, h("tr", {}, [t("admin.login"), t("admin.display_name"), t("admin.role"), t("admin.extensions"), t("admin.active"), ""]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, details.map((user) => h("tr", {},
        h("th", { scope: "row" }, user.login),
        h("td", {}, user.display_name),
        h("td", {}, t(`role.${user.role}`)),
        h("td", {}, identitiesText(user.identities)),
        h("td", {}, user.active ? t("common.yes") : t("common.no")),
        h("td", {}, h("button", { type: "button", class: "secondary small", "aria-label": `${t("common.edit")} ${user.login}`,
          on: { click: () => userDialog(user, reload) } }, t("common.edit"))))))));
}

async function userDialog(user, reload) {
  const roles = ["seller", "head", "admin"].map((r) => [r, t(`role.${r}`)]);
  const fields = h("div", { class: "form-grid" },
    user ? null : field(t("admin.login"), h("input", { name: "login", required: true, autocomplete: "off" })),
    field(t("admin.display_name"), h("input", { name: "display_name", value: user?.display_name || "" })),
    field(t("admin.role"), h("select", { name: "role" }, options(roles, user?.role || "seller"))),
    field(t("admin.extensions"), h("input", { name: "identities", value: identitiesText(user?.identities) }),
      t("admin.extensions_hint")),
    field(t("admin.password"), h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 8 })),
    user ? h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "active", checked: user.active }), t("admin.active")) : null);
  const saved = await openDialog(user ? `${t("common.edit")} ${user.login}` : t("admin.new_user"), fields, {
    onSubmit: async (form) => {
      const data = formValues(form);
      const identities = parseIdentities(data.identities);
      if (!user) {
        return api.post("/api/v1/users", { login: data.login, role: data.role, display_name: data.display_name,
          password: data.password, identities });
      }
      await api.patch(`/api/v1/users/${user.id}`, { display_name: data.display_name, role: data.role,
        active: form.querySelector("[name=active]").checked, password: data.password });
      return api.put(`/api/v1/users/${user.id}/identities`, { identities });
    },
  });
  if (saved) {
    toast(t("admin.user_saved"), "success");
    session.users = null;
    reload();
  }
}

async function pipelinesSection(body, selectedId) {
  const list = await pipelines({ refresh: true });
  const pipeline = list.find((p) => p.id === Number(selectedId)) || list[0];
  const reload = (id = pipeline?.id) => pipelinesSection(body, id);
  const act = async (promise) => {
    try {
      await promise;
      toast(t("admin.saved"), "success");
      reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };
  const newPipeline = h("form", { class: "toolbar" },
    field(t("admin.pipeline_name"), h("input", { name: "name", required: true })),
    h("button", { type: "submit", class: "secondary" }, t("admin.new_pipeline")));
  newPipeline.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const created = await api.post("/api/v1/pipelines", { name: formValues(newPipeline).name });
      reload(created.id);
    } catch (err) {
      if (!showFieldErrors(newPipeline, err)) toast(errorText(err), "error");
    }
  });
  if (!pipeline) {
    replace(body, newPipeline);
    return;
  }
  const stages = pipeline.stages || [];
  const movable = stages.filter((s) => !s.is_unsorted);
  const order = (stage, step) => {
    const ids = movable.map((s) => s.id);
    const i = ids.indexOf(stage.id);
    const j = i + step;
    if (j < 0 || j >= ids.length) return;
    [ids[i], ids[j]] = [ids[j], ids[i]];
    const unsorted = stages.filter((s) => s.is_unsorted).map((s) => s.id);
    act(api.put(`/api/v1/pipelines/${pipeline.id}/stages/order`, { stage_ids: [...unsorted, ...ids] }));
  };
  const remove = async (stage) => {
    const others = stages.filter((s) => s.id !== stage.id);
    const target = h("select", { name: "move_to_stage_id" }, options([["", "—"], ...others.map((s) => [s.id, s.name])], ""));
    const done = await openDialog(t("admin.remove_stage", { name: stage.name }),
      field(t("admin.remove_stage_target", { name: stage.name }), target), {
        submitLabel: t("common.delete"),
        onSubmit: (form) => api.delete(`/api/v1/pipelines/${pipeline.id}/stages/${stage.id}`,
          { query: { move_to_stage_id: formValues(form).move_to_stage_id } }),
      });
    if (done !== null) reload();
  };
  const kinds = ["open", "won", "lost"].map((k) => [k, t(`admin.kind.${k}`)]);
  const row = (stage) => {
    const form = h("form", { class: "stage-row", "aria-label": stage.name, dataset: { stageId: stage.id } },
      h("input", { name: "name", value: stage.name, required: true, "aria-label": t("admin.stage_name"), disabled: stage.is_unsorted }),
      h("select", { name: "kind", "aria-label": t("admin.stage_kind"), disabled: stage.is_unsorted }, options(kinds, stage.kind)),
      h("input", { name: "probability", type: "number", min: 0, max: 100, value: stage.probability, "aria-label": t("admin.stage_probability") }),
      h("button", { type: "submit", class: "secondary small" }, t("common.save")),
      robotsButton(pipeline, stage),
      stage.is_unsorted ? h("span") : h("span", {},
        h("button", { type: "button", class: "icon-button", "aria-label": t("admin.move_up", { name: stage.name }), on: { click: () => order(stage, -1) } }, "↑"),
        h("button", { type: "button", class: "icon-button", "aria-label": t("admin.move_down", { name: stage.name }), on: { click: () => order(stage, 1) } }, "↓")),
      stage.is_unsorted ? h("span") : h("button", { type: "button", class: "icon-button", "aria-label": t("admin.remove_stage", { name: stage.name }),
        on: { click: () => remove(stage) } }, "✕"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = formValues(form);
      const changes = { probability: Number(data.probability ?? 0) };
      if (!stage.is_unsorted) Object.assign(changes, { name: data.name, kind: data.kind });
      act(api.patch(`/api/v1/pipelines/${pipeline.id}/stages/${stage.id}`, changes));
    });
    return form;
  };
  const addStage = h("form", { class: "stage-row" },
    h("input", { name: "name", required: true, "aria-label": t("admin.stage_name"), placeholder: t("admin.stage_name") }),
    h("select", { name: "kind", "aria-label": t("admin.stage_kind") }, options(kinds, "open")),
    h("input", { name: "probability", type: "number", min: 0, max: 100, value: 10, "aria-label": t("admin.stage_probability") }),
    h("button", { type: "submit", class: "primary small" }, t("admin.add_stage")));
  addStage.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = formValues(addStage);
    const lastOpen = movable.filter((s) => s.kind === "open").length;
    act(api.post(`/api/v1/pipelines/${pipeline.id}/stages`, { name: data.name, kind: data.kind,
      probability: Number(data.probability ?? 0), position: data.kind === "open" ? lastOpen + 1 : undefined }));
  });
  replace(body,
    h("div", { class: "toolbar" },
      h("label", { class: "inline-field" }, h("span", {}, t("board.pipeline")),
        h("select", { id: "admin-pipeline", on: { change: (e) => reload(Number(e.target.value)) } },
          options(list.map((p) => [p.id, p.name]), pipeline.id))),
      newPipeline),
    h("section", { class: "panel", style: { marginTop: "1rem" }, "aria-label": pipeline.name },
      h("div", { class: "stage-row muted" }, h("span", {}, t("admin.stage_name")), h("span", {}, t("admin.stage_kind")),
        h("span", {}, t("admin.stage_probability"))),
      stages.map(row), addStage));
}

async function rulesSection(body) {
  let current;
  try {
    current = await api.get("/api/v1/rules");
  } catch (err) {
    replace(body, h("p", { class: "panel" }, err.status === 404 ? t("admin.unavailable") : errorText(err)));
    return;
  }
  const text = JSON.stringify(current.document ?? {}, null, 2);
  const editor = h("textarea", { name: "rules", id: "rules-editor", spellcheck: "false", "aria-label": t("admin.rules") }, text);
  editor.value = text;
  const messages = h("div", { role: "status", "aria-live": "polite", id: "rules-messages" });
  const send = async (validateOnly) => {
    messages.replaceChildren();
    let document;
    try {
      document = JSON.parse(editor.value);
    } catch (err) {
      messages.append(h("p", { class: "form-status", role: "alert" }, t("admin.rules_not_json", { error: err.message })));
      return;
    }
    try {
      const answer = validateOnly ? await api.post("/api/v1/rules/check", document) : await api.put("/api/v1/rules", document);
      messages.append(h("p", { class: "notice" }, validateOnly ? t("admin.rules_valid") : t("admin.saved"), " ",
        t("admin.rules_count", { count: answer.rules })));
      if (!validateOnly) source.textContent = t("admin.rules_source", { source: answer.source, version: answer.version ?? "—" });
    } catch (err) {
      messages.append(h("p", { class: "form-status", role: "alert" }, errorText(err)),
        h("ul", { class: "form-status" }, Object.entries(err.fields || {}).map(([name, message]) => h("li", {}, h("code", {}, name), ": ", message))));
    }
  };
  const source = h("p", { class: "muted" }, t("admin.rules_source", { source: current.source, version: current.version ?? "—" }));
  replace(body, h("div", { class: "panel rule-editor" },
    h("p", { class: "hint" }, t("admin.rules_hint")), source, editor, messages,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", on: { click: () => send(true) } }, t("admin.rules_validate")),
      h("button", { type: "button", class: "primary", on: { click: () => send(false) } }, t("admin.rules_save")))));
}

async function pbxSection(body) {
  let timer = null;
  let stopped = false;
  const draw = async () => {
    let list;
    let consumers = new Map();
    try {
      const answer = await api.get("/api/v1/pbx");
      list = itemsOf(answer);
      consumers = new Map((answer.consumers || []).map((c) => [c.pbx, c]));
    } catch (err) {
      replace(body, h("p", { class: "panel" }, err.status === 404 ? t("admin.unavailable") : errorText(err)));
      return;
    }
    if (stopped) return;
    replace(body, list.length ? h("table", { class: "data panel", "data-testid": "pbx-table" },
      h("thead", {}, h("tr", {}, [t("admin.pbx_name"), t("admin.pbx_address"), "", t("admin.pbx_consumer"), t("admin.pbx_since"), t("admin.pbx_events"), t("admin.pbx_live_calls")]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, list.map((pbx) => {
        // The consumer (maybe another instance) reports the PBX's live status; else our own link's.
        const consumer = consumers.get(pbx.name);
        const remote = consumer && !consumer.this_instance ? consumer : null;
        const up = remote ? remote.connected === true : pbx.connected ?? pbx.status === "up";
        return h("tr", {},
          h("th", { scope: "row" }, pbx.name),
          h("td", {}, `${pbx.host ?? ""}${pbx.port ? `:${pbx.port}` : ""}`),
          h("td", {}, h("span", { class: ["status-dot", up ? "up" : "down"], "aria-hidden": "true" }),
            up ? t("admin.pbx_status_up") : t("admin.pbx_status_down"), pbx.last_error ? ` · ${pbx.last_error}` : ""),
          h("td", { "data-testid": "pbx-consumer" }, consumerText(consumer)),
          h("td", {}, remote ? "—" : formatDateTime(pbx.since ?? pbx.connected_at)),
          h("td", { class: "num" }, formatNumber((remote ? remote.events : pbx.events ?? pbx.events_received) ?? 0)),
          h("td", { class: "num" }, formatNumber((remote ? remote.live_calls : pbx.live_calls) ?? 0)));
      }))) : h("p", { class: "panel" }, t("admin.pbx_none")));
    timer = setTimeout(draw, 3000);
  };
  await draw();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function consumerText(consumer) {
  if (!consumer) return "—";
  const who = consumer.this_instance ? t("admin.pbx_this_instance") : t("admin.pbx_other_instance", { instance: consumer.instance });
  return consumer.alive && consumer.held ? who : `${who} · ${t("admin.pbx_consumer_gone")}`;
}

// The screen-pop panel on every page: a websocket to /ws, one card per live call.
// Ringing -> in call -> (withdrawn: answered by someone else) -> wrap-up form -> gone.

import { api } from "./api.js";
import { poolNote } from "./pop_pool.js";
import { popScore, scoreBadge } from "./score.js";
import { field, h, options, replace } from "./dom.js";
import { formatDuration, formatMoney, formatPhone, formatRelative, formatTime, t, tOr } from "./i18n.js";
import { session } from "./session.js";
import { showRobotNotice } from "./robots.js";
import { errorText, showFieldErrors, toast } from "./ui.js";

const cards = new Map(); // linkedid -> card
const seen = new Set(); // message ids already applied (a re-send is dropped)
const SEEN_LIMIT = 1000;
const WITHDRAWN_MS = 8000;
let socket = null;
let retryDelay = 500;
let retryTimer = null;
let stopped = true;
let audio = null;
const prefs = JSON.parse(localStorage.getItem("pop-prefs") || '{"sound":false,"notify":false}');

window.addEventListener("locale-changed", () => draw());

export function startPops() {
  stopped = false;
  connect();
  draw();
}

export function stopPops() {
  stopped = true;
  clearTimeout(retryTimer);
  if (socket) socket.close(1000, "logout");
  socket = null;
  cards.clear();
  draw();
}

function connect() {
  if (stopped || (socket && socket.readyState <= WebSocket.OPEN)) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.addEventListener("open", () => {
    retryDelay = 500;
    // The session cookie authenticates the upgrade; the first message says who we are anyway.
    ws.send(JSON.stringify({ type: "auth", csrf_token: sessionStorage.getItem("csrf") }));
    document.body.dataset.pops = "connected";
  });
  ws.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      console.error("pop message is not JSON", err);
      return;
    }
    onMessage(message);
  });
  ws.addEventListener("close", (event) => {
    document.body.dataset.pops = "disconnected";
    if (socket === ws) socket = null;
    if (stopped || event.code === 4001 || event.code === 4401) return;
    // Jittered backoff; the server sends the live state again on reconnect.
    retryTimer = setTimeout(connect, retryDelay * (0.75 + Math.random() / 2));
    retryDelay = Math.min(retryDelay * 2, 15000);
  });
}

function idOf(message) {
  return message.card?.linkedid ?? message.linkedid ?? message.call?.linkedid;
}

let changedTimer = null;

/** Tell open screens the CRM changed (a call made or moved a deal); bursts make one refresh. */
function dealsChanged() {
  clearTimeout(changedTimer);
  changedTimer = setTimeout(() => window.dispatchEvent(new CustomEvent("deals-changed")), 400);
}

export function onMessage(message) {
  if (message.id) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value);
  }
  const type = message.type;
  const linkedid = idOf(message);
  const existing = linkedid ? cards.get(linkedid) : null;
  const incoming = message.card ?? null;
  switch (type) {
    case "hello":
      return;
    case "state":
      cards.clear();
      for (const card of message.cards || []) cards.set(card.linkedid, { ...card });
      break;
    case "call.ringing":
      cards.set(linkedid, { ...(existing || {}), ...incoming, status: incoming?.status || "ringing" });
      alertRinging(cards.get(linkedid));
      break;
    case "call.updated":
    case "call.answered":
    case "call.transferred":
      if (incoming && (!existing || (incoming.rev ?? 0) >= (existing.rev ?? 0))) {
        cards.set(linkedid, { ...(existing || {}), ...incoming });
      }
      if (type === "call.answered" && cards.has(linkedid) && !incoming?.status) cards.get(linkedid).status = "in-call";
      // By answer time the call-to-deal rules have made or claimed the caller's deal.
      if (type === "call.answered") dealsChanged();
      break;
    case "call.answered_elsewhere":
    case "call.withdrawn": {
      const base = existing || incoming || { linkedid };
      const card = { ...base, ...(incoming || {}), status: "withdrawn",
        withdrawn_reason: message.reason ?? type, answered_by: message.answered_by ?? incoming?.answered_by ?? base.answered_by };
      cards.set(linkedid, card);
      setTimeout(() => {
        if (cards.get(linkedid)?.status === "withdrawn") {
          cards.delete(linkedid);
          draw();
        }
      }, WITHDRAWN_MS);
      break;
    }
    case "call.wrapup":
      cards.set(linkedid, { ...(existing || {}), ...incoming, status: "wrap-up" });
      dealsChanged();
      break;
    case "call.wrapup_done":
      cards.delete(linkedid);
      dealsChanged();
      break;
    case "click_to_call.status":
      toast(t(`c2c.${message.status}`, { reason: message.reason ?? "",
        number: message.number?.e164 ? formatPhone(message.number.e164) : (message.number?.display ?? "") }),
        message.status === "failed" ? "error" : "info");
      return;
    case "callback.overdue":
      toast(t("callback.overdue", { minutes: message.sla_minutes,
        number: message.caller?.e164 ? formatPhone(message.caller.e164) : (message.caller?.display ?? ""),
        time: formatTime(message.missed_at) }), "error");
      return;
    case "robot.notice":
      showRobotNotice(message);
      dealsChanged();  // a robot may have moved, tagged or tasked the deal on screen
      return;
    case "error":
      toast(message.message || message.detail || t("error.generic"), "error");
      return;
    default:
      return;
  }
  draw();
}

function alertRinging(card) {
  if (prefs.sound) ring();
  if (prefs.notify && "Notification" in window && Notification.permission === "granted" && document.hidden) {
    const note = new Notification(t("pop.ringing"), {
      body: [card.caller?.display, card.contact?.name].filter(Boolean).join(" — "),
      tag: card.linkedid,
    });
    note.onclick = () => window.focus();
  }
}

/** A short two-tone ring from WebAudio: no sound file to ship. */
function ring() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [offset, freq] of [[0, 880], [0.25, 660]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.001, now + offset + 0.22);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + offset);
      osc.stop(now + offset + 0.23);
    }
  } catch (err) {
    console.warn("no sound", err);
  }
}

function savePrefs() {
  localStorage.setItem("pop-prefs", JSON.stringify(prefs));
}

function settingsEl() {
  const sound = h("input", { type: "checkbox", id: "pop-sound", checked: prefs.sound,
    on: { change: (e) => { prefs.sound = e.target.checked; savePrefs(); if (prefs.sound) ring(); } } });
  const notify = h("input", { type: "checkbox", id: "pop-notify", checked: prefs.notify,
    on: { change: async (e) => {
      prefs.notify = e.target.checked;
      if (prefs.notify && "Notification" in window && Notification.permission === "default") {
        prefs.notify = (await Notification.requestPermission()) === "granted";
        e.target.checked = prefs.notify;
      }
      savePrefs();
    } } });
  return h("details", { class: "pop-settings" }, h("summary", {}, t("pop.settings")),
    h("label", { class: "checkbox" }, sound, t("pop.sound")),
    h("label", { class: "checkbox" }, notify, t("pop.notify")));
}

function draw() {
  const panel = document.getElementById("pops");
  if (!panel) return;
  if (!session.user || cards.size === 0) {
    panel.replaceChildren();
    return;
  }
  const focused = document.activeElement && panel.contains(document.activeElement) ? document.activeElement.id : null;
  // Keep wrap-up forms being typed into: redraw only the cards whose content changed.
  const existing = new Map([...panel.querySelectorAll(".pop")].map((el) => [el.dataset.linkedid, el]));
  const ordered = [...cards.values()].sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
  const nodes = ordered.map((card) => {
    const key = JSON.stringify([document.documentElement.lang, card.status, card.rev, card.lookup, card.answered_by, card.contact, card.deal, card.looks_like, card.pool, card.score, card.deals]);
    const old = existing.get(card.linkedid);
    if (old && old.dataset.key === key) return old;
    const el = cardEl(card);
    el.dataset.key = key;
    if (old) keepTyped(old, el);
    return el;
  });
  // The header (with the alert settings, maybe open) survives redraws unless the language changed.
  let header = panel.querySelector(".pop-header");
  if (!header || header.dataset.locale !== document.documentElement.lang) {
    header = h("div", { class: "pop-header", dataset: { locale: document.documentElement.lang } },
      h("h2", {}, t("pop.title")), settingsEl());
  }
  replace(panel, header, nodes);
  if (focused) document.getElementById(focused)?.focus();
}

/** A wrap-up redrawn (the CRM named the deal late) keeps what the seller typed and picked. */
function keepTyped(oldEl, newEl) {
  const before = oldEl.querySelector("form.wrapup");
  const after = newEl.querySelector("form.wrapup");
  if (!before || !after) return;
  for (const input of after.querySelectorAll("input[name], textarea[name], select[name]")) {
    const was = before.querySelector(`[name="${input.name}"]`);
    if (!was) continue;
    if (input.type === "checkbox") input.checked = was.checked;
    else if (input.tagName !== "SELECT" || [...input.options].some((o) => o.value === was.value)) input.value = was.value;
    input.dispatchEvent(new Event("change"));
  }
}

function statusText(card) {
  switch (card.status) {
    case "ringing": return card.direction === "outbound" ? t("pop.dialling") : t("pop.ringing");
    case "in-call": return t("pop.in_call");
    case "wrap-up": return t("pop.wrap_up");
    case "withdrawn": {
      const who = card.answered_by?.user?.name || card.answered_by?.user?.login || card.answered_by?.extension;
      if (card.withdrawn_reason === "transferred") return t("pop.transferred_away");
      return who ? t("pop.answered_by", { name: who }) : t("pop.missed_here");
    }
    default: return card.status;
  }
}

function cardEl(card) {
  const number = card.caller?.e164 ? formatPhone(card.caller.e164) : (card.caller?.display || card.caller?.raw || t("pop.unknown_number"));
  const name = card.contact?.name || card.caller_name;
  const deal = card.deal;
  const el = h("article", { class: ["pop", `status-${card.status}`], "data-testid": "pop",
    dataset: { linkedid: card.linkedid, status: card.status }, "aria-label": `${statusText(card)}: ${number}` },
  h("div", { class: "pop-status", "data-testid": "pop-status" }, statusText(card)),
  h("div", { class: "pop-number phone" }, number),
  name ? h("div", { class: "pop-name" }, card.contact ? h("a", { href: `/contacts/${card.contact.id}` }, name) : name) : null,
  card.contact?.company ? h("div", { class: "muted" }, card.contact.company) : null,
  card.lookup === "pending" ? h("div", { class: "muted" }, t("pop.looking_up")) : null,
  !card.contact && card.lookup === "done" ? h("div", { class: "muted" }, t("pop.new_caller")) : null,
  card.owner ? h("div", { class: "muted" }, t("pop.owner", { name: card.owner.name })) : null,
  card.pool ? poolNote(card) : null,
  popScore(card.score),
  card.looks_like?.length ? h("div", { class: "pop-hint", "data-testid": "pop-looks-like" },
    t("pop.looks_like", { names: card.looks_like.map((c) => (c.company ? `${c.name}, ${c.company}` : c.name)).join("; ") })) : null,
  card.did?.display || card.queue ? h("div", { class: "muted" },
    [card.did?.display && t("pop.via_did", { did: card.did.e164 ? formatPhone(card.did.e164) : card.did.display }),
      card.queue && t("pop.via_queue", { queue: card.queue })]
      .filter(Boolean).join(" · ")) : null,
  (card.deals || []).length ? h("ul", { class: "pop-deals", "aria-label": t("pop.open_deals") },
    card.deals.map((d) => h("li", {}, h("a", { href: `/deals/${d.id}` }, d.title), " — ",
      d.stage?.unsorted ? tOr("stage.unsorted", d.stage.name) : d.stage?.name, " · ", formatMoney(d.amount, d.currency), " ", scoreBadge(d.score)))) : null,
  (card.activities || []).length && card.status !== "wrap-up" ? h("ul", { class: "pop-activities", "aria-label": t("pop.last_activities") },
    card.activities.map((a) => h("li", {}, formatRelative(a.at), " — ", t(`activity.${a.kind}`), a.body || a.title ? `: ${a.body || a.title}` : ""))) : null);
  if (card.status === "wrap-up") el.append(wrapupForm(card, deal));
  return el;
}

// "Skip" saves nothing but tells the server, so the card leaves every tab and the reconnect state.
async function skipWrapup(card, info) {
  cards.delete(card.linkedid);
  draw();
  try {
    await api.post(info.endpoint || "/api/v1/wrapups", { linkedid: card.linkedid });
  } catch (err) {
    console.warn("wrap-up skip not recorded", err);
  }
}

function wrapupForm(card, deal) {
  const info = card.wrapup || {};
  const id = card.linkedid.replace(/[^\w-]/g, "_");
  const stages = info.stages || [];
  const stageSelect = h("select", { name: "stage_id", id: `wrapup-stage-${id}` },
    options([["", t("wrapup.keep_stage")], ...stages.map((s) => [s.id, s.kind === "won" ? `✓ ${s.name}` : s.kind === "lost" ? `✗ ${s.name}` : s.name])],
      ""));
  const reason = field(t("wrapup.lost_reason"), h("input", { name: "lost_reason", id: `wrapup-reason-${id}`, maxlength: 200 }));
  reason.hidden = true;
  stageSelect.addEventListener("change", () => {
    const chosen = stages.find((s) => String(s.id) === stageSelect.value);
    reason.hidden = chosen?.kind !== "lost";
    reason.querySelector("input").required = chosen?.kind === "lost";
  });
  const callbackBox = h("input", { type: "checkbox", name: "callback", id: `wrapup-callback-${id}` });
  const due = h("input", { type: "datetime-local", name: "callback_at", id: `wrapup-due-${id}`,
    value: localInput(new Date(Date.now() + 24 * 3600 * 1000)) });
  const status = h("p", { class: "form-status", role: "alert" });
  const form = h("form", { class: "wrapup", "aria-label": t("wrapup.title") },
    h("div", { class: "muted" }, t("wrapup.duration", { duration: formatDuration(info.talk_s ?? info.duration_s ?? 0) }),
      info.outcome ? ` · ${tOr(`outcome.${info.outcome}`, info.outcome)}` : ""),
    deal ? h("div", {}, t("wrapup.deal"), " ", h("a", { href: `/deals/${deal.id}` }, deal.title || `#${deal.id}`)) : null,
    field(t("wrapup.note"), h("textarea", { name: "note", id: `wrapup-note-${id}`, rows: 3 })),
    stages.length ? field(t("wrapup.next_stage"), stageSelect) : null,
    reason,
    h("label", { class: "checkbox" }, callbackBox, t("wrapup.callback")),
    field(t("wrapup.callback_at"), due),
    status,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary small", on: { click: () => skipWrapup(card, info) } }, t("wrapup.skip")),
      h("button", { type: "submit", class: "primary small", id: `wrapup-save-${id}` }, t("wrapup.save"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const data = Object.fromEntries(new FormData(form).entries());
    const body = { linkedid: card.linkedid };
    if (deal?.id) body.deal_id = deal.id;
    if (data.note?.trim()) body.note = data.note.trim();
    if (data.stage_id) {
      body.stage_id = Number(data.stage_id);
      const kind = stages.find((s) => String(s.id) === data.stage_id)?.kind;
      if (kind === "won" || kind === "lost") body.result = kind;
    }
    if (data.lost_reason?.trim()) body.lost_reason = data.lost_reason.trim();
    if (data.callback) body.callback_due_at = new Date(data.callback_at).toISOString();
    form.querySelector("button[type=submit]").disabled = true;
    try {
      await api.post(info.endpoint || "/api/v1/wrapups", body);
      cards.delete(card.linkedid);
      draw();
      toast(t("wrapup.saved"), "success");
      window.dispatchEvent(new CustomEvent("deals-changed"));
    } catch (err) {
      form.querySelector("button[type=submit]").disabled = false;
      if (!showFieldErrors(form, err)) status.textContent = errorText(err);
    }
  });
  return form;
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Click-to-call: the PBX rings my phone, then the number; progress arrives on the websocket. */
export async function clickToCall(target) {
  try {
    const answer = await api.post("/api/v1/calls", target);
    toast(t("c2c.requested", { number: answer?.number ? formatPhone(answer.number) : formatPhone(target.number ?? "") }), "info");
  } catch (err) {
    toast(t("c2c.failed", { reason: errorText(err) }), "error");
  }
}

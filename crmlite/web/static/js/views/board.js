// The kanban board of one pipeline: stage columns, cards, drag (SortableJS) or keyboard to move.

import Sortable from "/vendor/sortable.esm.js";
import { api, itemsOf } from "../api.js";
import { daysInStage, moveDeal, newDealDialog, normalizeDeal } from "../deals.js";
import { h, options, replace } from "../dom.js";
import { formatDays, formatMoney, formatNumber, t, tOr } from "../i18n.js";
import { navigate, queryParams, setQueryParams } from "../router.js";
import { exportLinks } from "../exports.js";
import { isHead, pipelines, session, userName, users } from "../session.js";
import { errorText, failed, loading, toast } from "../ui.js";
import { loadStuck, stuckBadge } from "../robots.js";
import { scoreBadge } from "../score.js";

const CLOSED = new Set(["won", "lost"]);

/** Order columns: Unsorted first, then by position; closed stages (won, lost) last. */
export function orderColumns(columns) {
  const rank = (c) => (c.stage.is_unsorted ? 0 : CLOSED.has(c.stage.kind) ? 2 : 1);
  return [...columns].sort((a, b) => rank(a) - rank(b) || (a.stage.position ?? 0) - (b.stage.position ?? 0));
}

function normalizeColumn(raw) {
  const stage = raw.stage ?? { id: raw.stage_id, name: raw.name, kind: raw.kind, position: raw.position,
    is_unsorted: raw.is_unsorted, probability: raw.probability };
  const cards = (raw.cards ?? raw.deals ?? []).map(normalizeDeal);
  // Sums per currency: {"RUB": "1200.00", "USD": "50.00"}.
  const amounts = {};
  const given = raw.amounts ?? (raw.amount !== undefined ? { [session.currency]: raw.amount } : {});
  for (const [currency, value] of Object.entries(given)) amounts[currency] = Number(value);
  return { stage, cards, count: raw.count ?? cards.length, amounts, nextCursor: raw.next_cursor ?? null };
}

function addAmount(column, deal, sign) {
  const currency = deal.currency || session.currency;
  column.amounts[currency] = (column.amounts[currency] || 0) + sign * Number(deal.amount || 0);
  if (Math.abs(column.amounts[currency]) < 0.005) delete column.amounts[currency];
}

function formatAmounts(amounts) {
  const entries = Object.entries(amounts);
  if (!entries.length) return formatMoney(0, session.currency);
  return entries.map(([currency, value]) => formatMoney(value, currency)).join(" + ");
}

export async function render(main, params) {
  loading(main);
  const list = await pipelines();
  if (!list.length) {
    replace(main, h("p", { class: "panel" }, t("board.no_pipelines")));
    return undefined;
  }
  const pipelineId = Number(params.pipelineId) || (list.find((p) => p.is_default) || list[0]).id;
  const pipeline = list.find((p) => p.id === pipelineId);
  if (!pipeline) {
    failed(main, { status: 404 });
    return undefined;
  }
  // Offices (PBXs) are listed to heads and admins; the picker shows when there are two or more.
  const [, offices] = await Promise.all([users(), isHead()
    ? api.get("/api/v1/pbx").then((r) => itemsOf(r).map((pbx) => pbx.name)).catch(() => [])
    : Promise.resolve([])]);
  const filters = { owner: "", q: "", from: "", to: "", sort: "", office: "", ...queryParams() };
  const board = new Board(main, pipeline, list, filters, offices);
  await board.load();
  const refresh = () => board.load();
  window.addEventListener("deals-changed", refresh);
  return () => {
    window.removeEventListener("deals-changed", refresh);
    board.destroy();
  };
}

class Board {
  constructor(main, pipeline, allPipelines, filters, offices = []) {
    this.main = main;
    this.offices = offices;
    this.pipeline = pipeline;
    this.allPipelines = allPipelines;
    this.filters = filters;
    this.sortables = [];
    this.columns = [];
    this.expanded = new Set();
    this.loadSeq = 0;
  }

  destroy() {
    this.sortables.forEach((s) => s.destroy());
    this.sortables = [];
  }

  query() {
    const { owner, q, from, to, sort } = this.filters;
    // Dates are the user's local days: from 00:00 of "from" up to 00:00 after "to".
    const day = (text, plus = 0) => {
      const [y, m, d] = text.split("-").map(Number);
      return new Date(y, m - 1, d + plus).toISOString();
    };
    // The server orders each column (and its next pages) by score: sorting only the cards loaded
    // so far would miss better-scored deals further down a long column.
    return { owner: owner || undefined, q: q || undefined,
      created_from: from ? day(from) : undefined, created_to: to ? day(to, 1) : undefined,
      order: sort === "score" ? "score" : undefined };
  }

  /** The board's own query: the filters plus the office, which the deals export does not take. */
  boardQuery() {
    return { ...this.query(), pbx: this.filters.office || undefined };
  }

  async more(column) {
    try {
      const answer = normalizeColumn(await api.get(
        `/api/v1/board/${this.pipeline.id}/columns/${column.stage.id}`, { ...this.boardQuery(), cursor: column.nextCursor }));
      const known = new Set(column.cards.map((c) => c.id));
      column.cards.push(...answer.cards.filter((c) => !known.has(c.id)));
      column.nextCursor = answer.nextCursor;
      this.draw();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  async load() {
    const seq = ++this.loadSeq;
    let answer;
    try {
      [answer, this.stuck] = await Promise.all([api.get(`/api/v1/board/${this.pipeline.id}`, this.boardQuery()),
        loadStuck(this.pipeline.id)]);
    } catch (err) {
      if (seq === this.loadSeq) failed(this.main, err);
      return;
    }
    if (seq !== this.loadSeq) return;
    this.columns = orderColumns((answer.columns ?? []).map(normalizeColumn));
    this.draw();
  }

  draw() {
    this.destroy();
    const focusedId = document.activeElement?.closest?.(".deal-card")?.dataset.dealId;
    replace(this.main,
      h("div", { class: "board-header" },
        h("h1", { class: "visually-hidden" }, t("board.title", { name: this.pipeline.name })),
        this.toolbar()),
      h("p", { class: "hint", id: "board-keys" }, t("board.keyboard_hint")),
      h("div", { class: "board", role: "list", "aria-label": t("board.columns"), "data-testid": "board" },
        this.columns.map((column) => this.columnEl(column))));
    this.columns.forEach((column) => {
      const list = this.main.querySelector(`[data-stage-id="${column.stage.id}"] .cards`);
      this.sortables.push(Sortable.create(list, {
        group: `pipeline-${this.pipeline.id}`,
        animation: 120,
        sort: false,
        draggable: ".deal-card",
        filter: "button",
        preventOnFilter: false,
        ghostClass: "card-ghost",
        chosenClass: "card-chosen",
        emptyInsertThreshold: 40,
        onEnd: (event) => this.onDrop(event),
      }));
    });
    if (focusedId) this.main.querySelector(`.deal-card[data-deal-id="${focusedId}"]`)?.focus();
  }

  toolbar() {
    const ownerChoices = [["", t("board.owner_all")], ["mine", t("board.owner_mine")]];
    if (isHead()) {
      for (const user of session.users || []) ownerChoices.push([user.id, user.display_name || user.login]);
    }
    const apply = () => {
      setQueryParams(this.filters);
      this.load();
    };
    const onFilter = (name) => (event) => {
      this.filters[name] = event.target.value;
      apply();
    };
    let searchTimer = null;
    return h("div", { class: "toolbar" },
      h("label", { class: "inline-field" }, h("span", {}, t("board.pipeline")),
        h("select", { id: "pipeline-switcher", on: { change: (e) => navigate(`/board/${e.target.value}${location.search}`) } },
          options(this.allPipelines.map((p) => [p.id, p.name]), this.pipeline.id))),
      h("label", { class: "inline-field" }, h("span", {}, t("board.owner")),
        h("select", { id: "owner-filter", on: { change: onFilter("owner") } }, options(ownerChoices, this.filters.owner))),
      this.offices.length > 1 ? h("label", { class: "inline-field", title: t("board.office_hint") }, h("span", {}, t("board.office")),
        h("select", { id: "office-filter", name: "office", on: { change: onFilter("office") } },
          options([["", t("board.office_all")], ...this.offices.map((name) => [name, name])], this.filters.office))) : null,
      h("label", { class: "inline-field" }, h("span", {}, t("board.search")),
        h("input", { type: "search", id: "board-search", value: this.filters.q, placeholder: t("board.search_placeholder"),
          on: { input: (e) => { clearTimeout(searchTimer); searchTimer = setTimeout(() => onFilter("q")(e), 300); } } })),
      h("label", { class: "inline-field" }, h("span", {}, t("board.created_from")),
        h("input", { type: "date", id: "date-from", value: this.filters.from, on: { change: onFilter("from") } })),
      h("label", { class: "inline-field" }, h("span", {}, t("board.created_to")),
        h("input", { type: "date", id: "date-to", value: this.filters.to, on: { change: onFilter("to") } })),
      h("label", { class: "inline-field" }, h("span", {}, t("score.sort_label")),
        h("select", { id: "board-sort", on: { change: onFilter("sort") } },
          options([["", t("score.sort_newest")], ["score", t("score.sort_score")]], this.filters.sort))),
      exportLinks("/api/v1/deals", { pipeline: this.pipeline.id, ...this.query() }, { id: "deals-export" }),
      h("button", { type: "button", class: "primary", id: "new-deal", on: { click: () => this.newDeal() } },
        "+ ", t("deal.new")));
  }

  columnEl(column) {
    const { stage } = column;
    const closed = CLOSED.has(stage.kind);
    const collapsed = closed && !this.expanded.has(stage.id);
    const name = stage.is_unsorted ? tOr("stage.unsorted", stage.name) : stage.name;
    const headingId = `stage-${stage.id}-name`;
    return h("section", {
      class: ["column", `kind-${stage.kind || "open"}`, collapsed && "collapsed", stage.is_unsorted && "unsorted"],
      role: "listitem", "aria-labelledby": headingId,
      dataset: { stageId: stage.id, testid: "column" },
    },
    h("header", { class: "column-header" },
      h("h2", { id: headingId, class: "column-name" }, name),
      h("span", { class: "column-count", "data-testid": "column-count",
        "aria-label": t("board.count_label", { count: column.count }) }, formatNumber(column.count)),
      h("span", { class: "column-amount", "data-testid": "column-amount" }, formatAmounts(column.amounts)),
      closed ? h("button", { type: "button", class: "icon-button column-toggle", "aria-expanded": String(!collapsed),
        "aria-label": collapsed ? t("board.expand", { name }) : t("board.collapse", { name }),
        on: { click: () => { collapsed ? this.expanded.add(stage.id) : this.expanded.delete(stage.id); this.draw(); } } },
      collapsed ? "⟷" : "–") : null),
    h("div", { class: "cards", role: "list", "aria-label": name, dataset: { stageId: stage.id } },
      column.cards.map((card) => this.cardEl(card))),
    column.nextCursor && !collapsed
      ? h("button", { type: "button", class: "secondary small more", on: { click: () => this.more(column) } },
        t("board.more", { count: column.count - column.cards.length })) : null);
  }

  cardEl(deal) {
    const owner = deal.owner?.display_name || deal.owner?.login || userName(deal.owner_id) || t("deal.no_owner");
    const days = daysInStage(deal);
    return h("article", {
      class: "deal-card", tabindex: 0, role: "listitem",
      "aria-describedby": "board-keys",
      "aria-label": `${deal.title}, ${formatMoney(deal.amount, deal.currency)}`,
      dataset: { dealId: deal.id, testid: "deal-card" },
      on: { keydown: (event) => this.onCardKey(event, deal) },
    },
    h("a", { class: "card-title", href: `/deals/${deal.id}` }, deal.title),
    scoreBadge(deal.score, { class: "card-score", "data-testid": "card-score" }),
    deal.contact ? h("div", { class: "card-contact" }, deal.contact.name || "") : null,
    h("div", { class: "card-meta" },
      h("span", { class: "card-amount" }, formatMoney(deal.amount, deal.currency)),
      h("span", { class: "card-days", title: t("board.days_in_stage") }, formatDays(days))),
    h("div", { class: "card-owner muted" }, owner),
    stuckBadge(this.stuck?.get(deal.id)),
    h("button", { type: "button", class: "icon-button card-move", "aria-label": t("board.move_deal", { title: deal.title }),
      on: { click: () => this.moveDialog(deal) } }, "⇄"));
  }

  findCard(dealId) {
    for (const column of this.columns) {
      const index = column.cards.findIndex((c) => String(c.id) === String(dealId));
      if (index >= 0) return { column, index, deal: column.cards[index] };
    }
    return null;
  }

  /** Alt+Arrow moves a focused card to the neighbouring stage (visual direction, RTL aware). */
  onCardKey(event, deal) {
    if (event.key === "Enter" && event.target === event.currentTarget) {
      navigate(`/deals/${deal.id}`);
      return;
    }
    if (!event.altKey || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    event.preventDefault();
    const rtl = document.documentElement.dir === "rtl";
    const step = (event.key === "ArrowRight") !== rtl ? 1 : -1;
    const found = this.findCard(deal.id);
    const target = this.columns[this.columns.indexOf(found.column) + step];
    if (target) this.move(deal.id, target.stage.id);
  }

  async moveDialog(deal) {
    const found = this.findCard(deal.id);
    const select = h("select", { id: "move-target", "aria-label": t("board.move_to") },
      options(this.columns.map((c) => [c.stage.id, c.stage.is_unsorted ? tOr("stage.unsorted", c.stage.name) : c.stage.name]),
        found.column.stage.id));
    const dialog = h("dialog", { class: "dialog", "aria-label": t("board.move_deal", { title: deal.title }) },
      h("form", { method: "dialog" },
        h("h2", {}, t("board.move_deal", { title: deal.title })),
        h("label", { class: "field" }, h("span", { class: "field-label" }, t("board.move_to")), select),
        h("div", { class: "actions" },
          h("button", { value: "cancel", class: "secondary" }, t("common.cancel")),
          h("button", { value: "move", class: "primary" }, t("board.move")))));
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (dialog.returnValue === "move" && Number(select.value) !== found.column.stage.id) {
        this.move(deal.id, Number(select.value));
      }
      this.main.querySelector(`.deal-card[data-deal-id="${deal.id}"]`)?.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  /** SortableJS already moved the element; record it and ask the server. */
  onDrop(event) {
    const dealId = event.item.dataset.dealId;
    const toStage = Number(event.to.dataset.stageId);
    const fromStage = Number(event.from.dataset.stageId);
    if (toStage === fromStage) return;
    // Let SortableJS finish its own bookkeeping before the board is redrawn.
    setTimeout(() => this.move(dealId, toStage), 0);
  }

  /** Optimistic move: show it at once, roll back with a message if the server refuses. */
  async move(dealId, toStageId) {
    const found = this.findCard(dealId);
    if (!found) return;
    const { column: from, index, deal } = found;
    const to = this.columns.find((c) => c.stage.id === toStageId);
    if (!to || to === from) return;
    const before = { ...deal };
    from.cards.splice(index, 1);
    from.count -= 1;
    addAmount(from, deal, -1);
    const moved = { ...deal, stage_id: toStageId, stage_entered_at: new Date().toISOString(), days_in_stage: 0 };
    to.cards.unshift(moved);
    to.count += 1;
    addAmount(to, deal, +1);
    this.draw();
    const status = document.getElementById("live-status");
    try {
      const saved = await moveDeal(before, toStageId);
      Object.assign(moved, { version: saved.version ?? moved.version, stage_entered_at: saved.stage_entered_at ?? moved.stage_entered_at });
      if (status) status.textContent = t("board.moved", { title: deal.title, stage: to.stage.name });
    } catch (err) {
      const now = this.findCard(dealId);
      if (now) {
        now.column.cards.splice(now.index, 1);
        now.column.count -= 1;
        addAmount(now.column, deal, -1);
      }
      from.cards.splice(index, 0, before);
      from.count += 1;
      addAmount(from, deal, +1);
      this.draw();
      toast(t("board.move_refused", { title: deal.title, reason: errorText(err) }), "error");
      if (err.slug === "conflict" || err.status === 409) this.load();
    }
  }

  async newDeal() {
    const firstOpen = this.columns.find((c) => !c.stage.is_unsorted && !CLOSED.has(c.stage.kind)) ?? this.columns[0];
    const created = await newDealDialog({ pipelineId: this.pipeline.id, stageId: firstOpen?.stage.id });
    if (created) {
      toast(t("deal.created", { title: created.title }), "success");
      this.load();
    }
  }
}

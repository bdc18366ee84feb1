// Reports for heads of sales: funnel, conversion, time in stage, velocity, forecast, loss reasons,
// per seller. Apache ECharts draws; the same numbers stand in a table beside every chart.

import { api, itemsOf } from "../api.js";
import { h, options, replace } from "../dom.js";
import {
  currentLocale, formatDateTime, formatDuration, formatMoney, formatNumber, formatPercent, formatPhone, t, tOr,
} from "../i18n.js";
import { queryParams, setQueryParams } from "../router.js";
import { isHead, pipelines, session, users } from "../session.js";
import { errorText, loading } from "../ui.js";
import { scoringStatusPanel } from "../score.js";

const DAY = 86400000;
const CALL_REPORTS = { calls: true, "missed-calls": true, "speed-to-lead": true };
let echartsModule = null;

async function echarts() {
  echartsModule = echartsModule || (await import("/vendor/echarts.esm.min.mjs"));
  return echartsModule;
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The report window for the API: [from 00:00, to + 1 day 00:00) in the browser's time zone. */
export function windowOf(from, to) {
  const [fy, fm, fd] = from.split("-").map(Number);
  const [ty, tm, td] = to.split("-").map(Number);
  return { since: new Date(fy, fm - 1, fd).toISOString(), until: new Date(ty, tm - 1, td + 1).toISOString() };
}

function stageLabel(stage) {
  return stage.is_unsorted || stage.unsorted ? tOr("stage.unsorted", stage.name) : stage.name;
}

/** Money by currency {"RUB": "10.00"} as one line. */
function money(byCurrency) {
  const entries = Object.entries(byCurrency || {});
  if (!entries.length) return formatMoney(0, session.currency);
  return entries.map(([c, v]) => formatMoney(v, c)).join(" + ");
}

function mainCurrency(byCurrency) {
  return Object.keys(byCurrency || {})[0] || session.currency;
}

export async function render(main) {
  if (!isHead()) {
    replace(main, h("p", { class: "panel", role: "alert" }, t("reports.heads_only")));
    return undefined;
  }
  loading(main);
  // Offices: the PBXs' names; the call reports take one (the picker shows with two or more).
  const [allPipelines, people, offices] = await Promise.all([pipelines(), users(),
    api.get("/api/v1/pbx").then((r) => itemsOf(r).map((pbx) => pbx.name)).catch(() => [])]);
  const today = new Date();
  const params = {
    pipeline: String((allPipelines.find((p) => p.is_default) || allPipelines[0])?.id ?? ""),
    from: isoDay(new Date(today.getTime() - 29 * DAY)),
    to: isoDay(today),
    seller: "",
    office: "",
    ...queryParams(),
  };
  const charts = [];
  const onResize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", onResize);
  const body = h("div", { id: "report-body" });
  const form = h("form", { class: "toolbar", "aria-label": t("reports.title") },
    h("label", { class: "inline-field" }, h("span", {}, t("reports.pipeline")),
      h("select", { name: "pipeline", id: "report-pipeline" }, options(allPipelines.map((p) => [p.id, p.name]), params.pipeline))),
    h("label", { class: "inline-field" }, h("span", {}, t("reports.from")),
      h("input", { type: "date", name: "from", id: "report-from", value: params.from, required: true })),
    h("label", { class: "inline-field" }, h("span", {}, t("reports.to")),
      h("input", { type: "date", name: "to", id: "report-to", value: params.to, required: true })),
    h("label", { class: "inline-field" }, h("span", {}, t("reports.seller")),
      h("select", { name: "seller", id: "report-seller" }, options([["", t("reports.all_sellers")],
        ...people.filter((u) => u.role === "seller").map((u) => [u.id, u.display_name || u.login])], params.seller))),
    offices.length > 1 ? h("label", { class: "inline-field" }, h("span", {}, t("reports.office")),
      h("select", { name: "office", id: "report-office" }, options([["", t("reports.all_offices")],
        ...offices.map((name) => [name, name])], params.office))) : null,
    h("button", { type: "submit", class: "primary" }, t("common.apply")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(params, Object.fromEntries(new FormData(form).entries()));
    setQueryParams(params);
    draw();
  });
  form.addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT") form.requestSubmit();
  });
  replace(main, h("h1", {}, t("reports.title")), form, body);

  let drawSeq = 0;
  async function draw() {
    // A slower answer for an earlier choice must not overwrite the latest one.
    const seq = ++drawSeq;
    charts.splice(0).forEach((c) => c.dispose());
    loading(body);
    const query = { pipeline_id: params.pipeline, ...windowOf(params.from, params.to), seller_id: params.seller || undefined };
    // The office narrows the call reports only; the deal reports stay the whole company's.
    const callsQuery = { ...query, pbx: params.office || undefined };
    const get = (name) => api.get(`/api/v1/reports/${name}`, name in CALL_REPORTS ? callsQuery : query)
      .catch((err) => ({ error: err }));
    const [lib, funnel, times, sales, forecast, losses, calls, missed, speed] = await Promise.all([
      echarts(), get("funnel"), get("time-in-stage"), get("sales"), get("forecast"), get("loss-reasons"), get("calls"),
      get("missed-calls"), get("speed-to-lead"),
    ]);
    // Per seller: each seller's own sales figures beside their calls (one request a seller).
    const sellers = params.seller ? people.filter((u) => String(u.id) === params.seller)
      : people.filter((u) => u.role === "seller");
    const perSeller = await Promise.all(sellers.map((u) =>
      api.get("/api/v1/reports/sales", { ...query, seller_id: u.id }).then((r) => ({ user: u, sales: r }))
        .catch(() => ({ user: u, sales: null }))));
    if (seq !== drawSeq) return;
    const chart = (option, label) => {
      const el = h("div", { class: "chart", role: "img", "aria-label": label, "data-testid": "chart" });
      queueMicrotask(() => {
        const instance = lib.init(el, null, { renderer: "svg", locale: currentLocale().startsWith("zh") ? "ZH" : "EN" });
        instance.setOption({ animation: false, textStyle: { fontFamily: getComputedStyle(document.body).fontFamily }, ...option });
        charts.push(instance);
      });
      return el;
    };
    replace(body,
      kpis(sales, forecast, funnel),
      h("div", { class: "report-grid" },
        section("funnel", t("reports.funnel"), funnel, (r) => funnelReport(r, chart)),
        section("time", t("reports.time_in_stage"), times, (r) => timeReport(r, chart)),
        section("forecast", t("reports.forecast"), forecast, (r) => forecastReport(r, chart)),
        section("losses", t("reports.loss_reasons"), losses, (r) => lossReport(r, chart)),
        section("sellers", t("reports.per_seller"), calls, (r) => sellerReport(r, perSeller, chart)),
        section("missed", t("reports.missed_calls"), missed, (r) => missedReport(r, speed)),
        scoringStatusPanel()));
  }

  await draw();
  return () => {
    window.removeEventListener("resize", onResize);
    charts.forEach((c) => c.dispose());
  };
}

function section(id, title, answer, build) {
  let content;
  if (answer?.error) content = h("p", { class: "form-status" }, errorText(answer.error));
  else {
    try {
      content = build(answer);
    } catch (err) {
      console.error(err);
      content = h("p", { class: "form-status" }, t("error.generic"));
    }
  }
  return h("section", { class: "panel", "aria-labelledby": `report-${id}`, "data-testid": `report-${id}` },
    h("h2", { id: `report-${id}` }, title), content);
}

function kpi(label, value, testid) {
  return h("div", { class: "kpi", "data-testid": testid }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}

function kpis(sales, forecast, funnel) {
  if (sales?.error) return h("div");
  const currencies = Object.entries(sales.currencies || {});
  const first = currencies[0]?.[1] || {};
  const currency = currencies[0]?.[0] || session.currency;
  return h("div", { class: "kpis" },
    kpi(t("reports.win_rate"), formatPercent(sales.win_rate ?? funnel?.win_rate, 1), "kpi-win-rate"),
    kpi(t("reports.won"), formatNumber(sales.won ?? 0), "kpi-won"),
    kpi(t("reports.lost"), formatNumber(sales.lost ?? 0), "kpi-lost"),
    kpi(t("reports.avg_deal"), first.average_won != null ? formatMoney(first.average_won, currency) : "—", "kpi-average"),
    kpi(t("reports.cycle"), sales.average_cycle_s != null ? formatDuration(sales.average_cycle_s) : "—", "kpi-cycle"),
    kpi(t("reports.velocity"), first.velocity_per_day != null
      ? t("reports.velocity_per_day", { amount: formatMoney(first.velocity_per_day, currency) }) : "—", "kpi-velocity"),
    kpi(t("reports.open_deals"), formatNumber(first.open_deals ?? 0), "kpi-open"),
    forecast?.error ? null : kpi(t("reports.forecast"), money(forecast.configured_total), "kpi-forecast"));
}

function table(headers, rows, testid) {
  return h("div", { class: "table-wrap" }, h("table", { class: "data", "data-testid": testid },
    h("thead", {}, h("tr", {}, headers.map(([label, numeric]) => h("th", { class: numeric ? "num" : null, scope: "col" }, label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) =>
      i === 0 ? h("th", { scope: "row" }, cell) : h("td", { class: headers[i][1] ? "num" : null }, cell)))))));
}

function barOption(names, series, { horizontal = false, formatter, valueAxis = true } = {}) {
  const category = { type: "category", data: names, axisLabel: { interval: 0, overflow: "truncate", width: 90 } };
  // Counts stand on the bars themselves; an axis of counts would only repeat them.
  const value = valueAxis ? { type: "value", axisLabel: formatter ? { formatter } : {} }
    : { type: "value", axisLabel: { show: false }, splitLine: { show: false } };
  return {
    grid: { left: 8, right: 24, top: series.length > 1 ? 28 : 12, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis" },
    legend: series.length > 1 ? { top: 0 } : undefined,
    xAxis: horizontal ? value : category,
    yAxis: horizontal ? { ...category, inverse: true } : value,
    series: series.map((s) => ({
      type: "bar", name: s.name, data: s.data,
      label: { show: true, position: horizontal ? "right" : "top", formatter: s.label },
    })),
  };
}

function funnelReport(report, chart) {
  const steps = (report.stages || []).filter((s) => s.stage.kind !== "lost");
  if (!steps.length) return h("p", { class: "muted" }, t("reports.no_data"));
  const names = steps.map((s) => stageLabel(s.stage));
  return h("div", { class: "report" },
    chart(barOption(names, [{ name: t("reports.entered"), data: steps.map((s) => s.entered) }], { horizontal: true, valueAxis: false }),
      t("reports.funnel")),
    table([[t("reports.stage")], [t("reports.entered"), true], [t("reports.conversion_next"), true], [t("reports.conversion_won"), true]],
      steps.map((s) => [names[steps.indexOf(s)], formatNumber(s.entered), formatPercent(s.to_next, 1), formatPercent(s.to_won, 1)]),
      "funnel-table"));
}

function timeReport(rows, chart) {
  const list = itemsOf(rows).filter((r) => r.stays > 0 || r.open_stays > 0);
  if (!list.length) return h("p", { class: "muted" }, t("reports.no_data"));
  const names = list.map((r) => stageLabel(r.stage));
  const hours = (s) => (s == null ? 0 : Math.round((s / 3600) * 10) / 10);
  return h("div", { class: "report" },
    chart(barOption(names, [
      { name: t("reports.median"), data: list.map((r) => hours(r.median_s)), label: (p) => formatDuration(p.value * 3600) },
      { name: t("reports.p90"), data: list.map((r) => hours(r.p90_s)), label: (p) => formatDuration(p.value * 3600) },
    ], { horizontal: true, formatter: (v) => `${formatNumber(v)} h` }), t("reports.time_in_stage")),
    table([[t("reports.stage")], [t("reports.deals"), true], [t("reports.median"), true], [t("reports.p90"), true]],
      list.map((r, i) => [names[i], formatNumber(r.stays), formatDuration(r.median_s), formatDuration(r.p90_s)]), "time-table"));
}

function forecastReport(report, chart) {
  const list = (report.stages || []).filter((s) => s.open_deals > 0);
  if (!list.length) return h("p", { class: "muted" }, t("reports.no_data"));
  const currency = mainCurrency(report.configured_total);
  const names = list.map((s) => stageLabel(s.stage));
  const value = (m) => Number(m?.[currency] ?? 0);
  return h("div", { class: "report" },
    chart(barOption(names, [
      { name: t("reports.forecast_configured"), data: list.map((s) => value(s.configured_weighted)), label: (p) => formatMoney(p.value, currency, { notation: "compact" }) },
      { name: t("reports.forecast_learned"), data: list.map((s) => value(s.learned_weighted)), label: (p) => formatMoney(p.value, currency, { notation: "compact" }) },
    ], { horizontal: true, formatter: (v) => formatMoney(v, currency, { notation: "compact" }) }), t("reports.forecast")),
    table([[t("reports.stage")], [t("reports.open_deals"), true], [t("reports.amount"), true], [t("reports.forecast_configured"), true], [t("reports.forecast_learned"), true]],
      [...list.map((s, i) => [names[i], formatNumber(s.open_deals), money(s.amount), money(s.configured_weighted), money(s.learned_weighted)]),
        [t("common.total"), "", "", money(report.configured_total), money(report.learned_total)]], "forecast-table"));
}

function lossReport(rows, chart) {
  const list = itemsOf(rows);
  if (!list.length) return h("p", { class: "muted" }, t("reports.no_data"));
  const label = (r) => r.reason || "—";
  return h("div", { class: "report" },
    chart({
      tooltip: { trigger: "item" },
      series: [{ type: "pie", radius: ["35%", "65%"], data: list.map((r) => ({ name: label(r), value: r.deals })),
        label: { formatter: "{b}: {c}" } }],
    }, t("reports.loss_reasons")),
    table([[t("reports.reason")], [t("reports.deals"), true], [t("reports.amount"), true]],
      list.map((r) => [label(r), formatNumber(r.deals), money(r.amount)]), "loss-table"));
}

function sellerReport(report, perSeller, chart) {
  const calls = new Map((report.sellers || []).map((s) => [s.agent_id, s]));
  const rows = perSeller.map(({ user, sales }) => {
    const figures = Object.entries(sales?.currencies || {});
    return {
      name: user.display_name || user.login,
      won: sales?.won ?? 0,
      winRate: sales?.win_rate,
      wonAmount: Object.fromEntries(figures.map(([c, f]) => [c, f.won_amount])),
      calls: calls.get(user.id),
    };
  });
  if (!rows.length) return h("p", { class: "muted" }, t("reports.no_data"));
  const names = rows.map((r) => r.name);
  return h("div", { class: "report" },
    chart(barOption(names, [
      { name: t("reports.won"), data: rows.map((r) => r.won) },
      { name: t("reports.calls"), data: rows.map((r) => r.calls?.calls ?? 0) },
    ], { horizontal: true }), t("reports.per_seller")),
    table([[t("reports.seller")], [t("reports.won"), true], [t("reports.win_rate"), true], [t("reports.amount"), true],
      [t("reports.calls"), true], [t("reports.answer_rate"), true]],
    rows.map((r) => [r.name, formatNumber(r.won), formatPercent(r.winRate, 1), money(r.wonAmount),
      formatNumber(r.calls?.calls ?? 0), formatPercent(r.calls?.answer_rate, 1)]), "seller-table"));
}

function missedReport(report, speed) {
  return h("div", {},
    h("div", { class: "kpis" },
      kpi(t("reports.missed"), formatNumber(report.missed), "kpi-missed"),
      kpi(t("reports.called_back"), formatNumber(report.called_back), "kpi-called-back"),
      kpi(t("reports.missed_not_called_back"), formatNumber(report.never_called_back), "kpi-never-called-back"),
      kpi(t("reports.sla_breached", { minutes: Math.round(report.sla_s / 60) }), formatNumber(report.breached), "kpi-breached"),
      speed && !speed.error ? kpi(t("reports.speed_to_lead"), speed.median_s != null ? formatDuration(speed.median_s) : "—", "kpi-speed") : null),
    report.open_breaches?.length ? table([[t("contact.phones")], [t("reports.missed_at")], [t("reports.deadline")]],
      report.open_breaches.map((m) => [
        m.contact_id ? h("a", { href: `/contacts/${m.contact_id}`, class: "phone" }, formatPhone(m.caller)) : h("span", { class: "phone" }, formatPhone(m.caller)),
        formatDateTime(m.missed_at), formatDateTime(m.deadline)]), "missed-table") : null);
}

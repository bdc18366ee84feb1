// Lead scores in the browser: a 0-100 badge and the reasons behind it, worded in the user's
// language from the factors the server sends ({rule, feature, value, points}).

import { api } from "./api.js";
import { h } from "./dom.js";
import { formatNumber, t } from "./i18n.js";

const HOT = 70;
const COLD = 35;
const MINUS = "\u2212"; // a real minus sign: "−12", not a hyphen

/** "+18" or "−12", with the locale's digits. */
export function signedPoints(points) {
  const magnitude = formatNumber(Math.abs(points));
  return points < 0 ? `${MINUS}${magnitude}` : `+${magnitude}`;
}

function valueText(feature, value) {
  switch (feature) {
    case "source": return t(`score.source.${value}`);
    case "days_since_contact": return formatNumber(value, { maximumFractionDigits: 0 });
    case "first_answer_h": return formatNumber(value, { maximumFractionDigits: 1 });
    case "talk_time_min": return formatNumber(value, { maximumFractionDigits: 1 });
    case "amount": return formatNumber(value, { maximumFractionDigits: 0 });
    default: return typeof value === "number" ? formatNumber(value) : String(value);
  }
}

/** What one factor says: "3 inbound calls in 7 days". */
export function factorText(factor) {
  const { feature, value } = factor;
  if (value === null || value === undefined) return t(`score.factor.${feature}.none`);
  const count = typeof value === "number" ? Math.round(value) : 0;
  return t(`score.factor.${feature}`, { count, value: valueText(feature, value) });
}

/** The score as a coloured badge (hot, warm, cold); the number is also its accessible name. */
export function scoreBadge(value, attrs = {}) {
  if (value === null || value === undefined) return null;
  const level = value >= HOT ? "hot" : value <= COLD ? "cold" : "warm";
  const { class: extra, ...rest } = attrs;
  return h("span", { class: ["score-badge", `score-${level}`, extra], title: t("score.title_value", { value }),
    "aria-label": t("score.title_value", { value }), ...rest }, formatNumber(value));
}

/** The reasons, largest first: "3 inbound calls in 7 days +18". */
export function scoreReasons(factors, limit = 5, attrs = {}) {
  if (!factors?.length) return null;
  return h("ul", { class: "score-reasons", ...attrs },
    factors.slice(0, limit).map((factor) => h("li", { class: factor.points < 0 ? "minus" : "plus" },
      h("span", {}, factorText(factor)), " ",
      h("strong", { class: "score-points" }, signedPoints(factor.points)))));
}

/** The ringing card's line: the caller's score and its top three reasons. */
export function popScore(score) {
  if (!score) return null;
  return h("div", { class: "pop-score", "data-testid": "pop-score" },
    h("span", { class: "muted" }, t("score.title"), " "),
    scoreBadge(score.value, { "data-testid": "pop-score-value" }),
    score.method === "learned" ? h("span", { class: "muted" }, " · ", t("score.method.learned")) : null,
    scoreReasons(score.factors, 3, { "data-testid": "pop-score-reasons" }));
}

/** A page's score panel (contact or deal), filled when the score arrives. */
export function scorePanel(subject, id) {
  const headingId = `${subject}-score`;
  const body = h("div", { class: "muted" }, t("score.loading"));
  const panel = h("section", { class: "panel", "aria-labelledby": headingId, "data-testid": "score-panel" },
    h("h2", { id: headingId }, t("score.title")), body);
  api.get(`/api/v1/${subject}s/${id}/score`).then((answer) => {
    if (answer.score === null || answer.score === undefined) {
      body.replaceChildren(t("score.none"));
      return;
    }
    body.className = "";
    body.replaceChildren(
      h("p", {}, scoreBadge(answer.score, { "data-testid": "score-value" }), " ",
        h("span", { class: "muted" }, t(`score.method.${answer.method}`))),
      scoreReasons(answer.factors, 5, { "data-testid": "score-reasons" }) || h("p", { class: "muted" }, t("score.no_reasons")));
  }).catch((err) => {
    console.warn("score not loaded", err);
    body.replaceChildren(t("score.none"));
  });
  return panel;
}

/** The head's view of the scoring: which score is in use, the held-out AUCs, a Train button. */
export function scoringStatusPanel() {
  const body = h("div", { class: "muted" }, t("score.loading"));
  const panel = h("section", { class: "panel", "aria-labelledby": "report-scoring", "data-testid": "report-scoring" },
    h("h2", { id: "report-scoring" }, t("score.status_title")), body);
  const fill = (status) => {
    const training = status.training;
    const auc = (value) => (value === null || value === undefined ? "—" : formatNumber(value, { minimumFractionDigits: 2, maximumFractionDigits: 3 }));
    const button = h("button", { type: "button", class: "secondary small", "data-testid": "score-train",
      on: { click: async () => {
        button.disabled = true;
        try {
          await api.post("/api/v1/scoring/train");
          fill(await api.get("/api/v1/scoring"));
        } catch (err) {
          console.warn("training failed", err);
          button.disabled = false;
        }
      } } }, t("score.train"));
    body.className = "";
    body.replaceChildren(
      h("p", {}, t("score.status_method", { method: t(`score.method.${status.method}`) })),
      h("p", { "data-testid": "score-status" }, training ? t(`score.status.${training.status}`) : t("score.status.never")),
      training ? h("p", { "data-testid": "score-auc" }, t("score.status_auc", { learned: auc(training.auc), rules: auc(training.rules_auc) })) : null,
      training ? h("p", { class: "muted" }, t("score.status_history", { won: formatNumber(training.won), lost: formatNumber(training.lost),
        min_won: formatNumber(status.min_won), min_lost: formatNumber(status.min_lost) })) : null,
      button);
  };
  api.get("/api/v1/scoring").then(fill).catch((err) => {
    console.warn("scoring status not loaded", err);
    body.replaceChildren(t("score.none"));
  });
  return panel;
}

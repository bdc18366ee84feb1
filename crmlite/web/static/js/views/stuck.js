// Stuck deals by seller: deals idle past their stage's stuck robot (heads see everyone's).

import { api } from "../api.js";
import { h, options, replace } from "../dom.js";
import { formatDate, formatNumber, t } from "../i18n.js";
import { queryParams, setQueryParams } from "../router.js";
import { isHead, pipelines } from "../session.js";
import { failed, loading } from "../ui.js";
import { robotsButton, stuckBadge } from "../robots.js";

export async function render(main) {
  loading(main);
  const list = await pipelines();
  const pipelineId = queryParams().pipeline_id || "";
  let answer;
  try {
    answer = await api.get("/api/v1/stuck-deals", pipelineId ? { pipeline_id: pipelineId } : {});
  } catch (err) {
    failed(main, err);
    return;
  }
  const filter = h("select", { id: "stuck-pipeline", "aria-label": t("board.pipeline"), on: { change: (e) => {
    setQueryParams({ pipeline_id: e.target.value });
    render(main);
  } } }, options([["", t("stuck.all_pipelines")], ...list.map((p) => [p.id, p.name])], pipelineId));
  const pipelineName = (id) => list.find((p) => p.id === id)?.name ?? `#${id}`;
  // Heads shape the robots here (the stage editor is the admins'): one button per stage.
  const chosen = list.find((p) => String(p.id) === String(pipelineId));
  const robots = isHead() && chosen ? h("section", { class: "panel", "aria-label": t("stuck.robots") },
    h("h2", {}, t("stuck.robots")),
    h("div", { class: "toolbar" }, (chosen.stages || []).map((stage) => robotsButton(chosen, stage, stage.name)))) : null;
  replace(main, h("h1", {}, t("stuck.title")),
    h("div", { class: "toolbar" }, h("label", { class: "inline-field" }, h("span", {}, t("board.pipeline")), filter),
      h("p", { class: "muted" }, t("stuck.total", { count: formatNumber(answer.total) }))),
    robots,
    answer.total ? answer.sellers.map((seller) => h("section", { class: "panel stuck-seller", "data-testid": "stuck-seller",
      "aria-label": seller.owner_name || t("stuck.unowned") },
    h("h2", {}, seller.owner_name || t("stuck.unowned"), " ", h("span", { class: "muted" }, t("stuck.count", { count: seller.count }))),
    h("table", { class: "data" },
      h("thead", {}, h("tr", {}, [t("stuck.deal"), t("board.pipeline"), t("stuck.stage"), t("stuck.idle"), t("stuck.last_activity")]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, seller.deals.map((deal) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `/deals/${deal.deal_id}` }, deal.title)),
        h("td", {}, pipelineName(deal.pipeline_id)),
        h("td", {}, deal.stage_name),
        h("td", {}, stuckBadge(deal), deal.escalated ? h("span", { class: "muted" }, t("stuck.escalated"))
          : deal.nudged ? h("span", { class: "muted" }, t("stuck.nudged")) : null),
        h("td", {}, formatDate(deal.idle_from)))))))) : h("p", { class: "panel muted" },
      isHead() ? t("stuck.none_head") : t("stuck.none")));
}

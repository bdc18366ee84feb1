// Export links for a list: the same filters as the screen shows, as CSV (opens in Excel) or XLSX.

import { h } from "./dom.js";
import { t } from "./i18n.js";

function href(path, query, format) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    url.searchParams.set(key, value);
  }
  url.searchParams.set("format", format);
  return url.pathname + url.search;
}

/** Two download links; call .update(query) when the screen's filters change. */
export function exportLinks(path, query, { id = "export" } = {}) {
  const csv = h("a", { class: "button secondary small", download: "", id: `${id}-csv` }, t("export.csv"));
  const xlsx = h("a", { class: "button secondary small", download: "", id: `${id}-xlsx` }, t("export.xlsx"));
  const box = h("span", { class: "export-links", role: "group", "aria-label": t("export.label") }, csv, " ", xlsx);
  box.update = (next) => {
    csv.href = href(path, next, "csv");
    xlsx.href = href(path, next, "xlsx");
  };
  box.update(query);
  return box;
}

// Placeholder until its API lands.

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";

export async function render(main) {
  replace(main, h("p", { class: "panel" }, t("admin.unavailable")));
}

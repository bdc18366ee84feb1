// My open tasks (call-backs first by due time).

import { api, itemsOf } from "../api.js";
import { h, replace } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import { errorText, failed, loading, toast } from "../ui.js";

export async function render(main) {
  loading(main);
  let tasks;
  try {
    tasks = itemsOf(await api.get("/api/v1/tasks", { assignee: "mine", open: true, limit: 200 }));
  } catch (err) {
    failed(main, err);
    return;
  }
  tasks.sort((a, b) => String(a.due_at).localeCompare(String(b.due_at)));
  replace(main, h("h1", {}, t("tasks.title")),
    tasks.length ? h("table", { class: "data panel" }, h("tbody", {}, tasks.map((task) => {
      const overdue = task.due_at && new Date(task.due_at) < new Date();
      return h("tr", {},
        h("td", {}, task.title || task.body),
        h("td", {}, task.deal_id ? h("a", { href: `/deals/${task.deal_id}` }, `#${task.deal_id}`)
          : task.contact_id ? h("a", { href: `/contacts/${task.contact_id}` }, `#${task.contact_id}`) : ""),
        h("td", { style: overdue ? { color: "var(--danger)", fontWeight: 600 } : {} },
          formatDateTime(task.due_at), overdue ? ` · ${t("tasks.overdue")}` : ""),
        h("td", {}, h("button", { type: "button", class: "secondary small", on: { click: async () => {
          try {
            await api.patch(`/api/v1/tasks/${task.id}`, { done: true });
            render(main);
          } catch (err) {
            toast(errorText(err), "error");
          }
        } } }, t("tasks.mark_done"))));
    }))) : h("p", { class: "muted" }, t("tasks.none")));
}

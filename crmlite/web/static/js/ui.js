// Shared pieces of the screens: toasts, the busy/empty/error states, a modal dialog.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

export function toast(message, kind = "info", { timeout = 6000 } = {}) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: ["toast", `toast-${kind}`], role: kind === "error" ? "alert" : "status" },
    h("span", {}, message),
    h("button", { type: "button", class: "icon-button", "aria-label": t("common.close"),
      on: { click: () => item.remove() } }, "×"));
  box.append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

/** The text of an error for people: the server's problem detail, or a generic line. */
export function errorText(err) {
  if (err?.status === 0 || err instanceof TypeError) return t("error.network");
  if (err?.status === 403) return t("error.forbidden");
  if (err?.status === 404) return t("error.not_found");
  return err?.message || t("error.generic");
}

export function loading(el) {
  replace(el, h("p", { class: "muted", role: "status" }, t("common.loading")));
}

export function failed(el, err) {
  replace(el, h("div", { class: "panel error-panel", role: "alert" },
    h("h1", {}, err?.status === 404 ? t("error.not_found_title") : t("error.title")),
    h("p", {}, errorText(err)),
    h("p", {}, h("a", { href: "/board" }, t("nav.back_to_board")))));
}

/** Show field messages of an ApiError next to the form's controls; returns true if any shown. */
export function showFieldErrors(form, err) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  let shown = false;
  for (const [name, message] of Object.entries(err?.fields || {})) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`)
      || form.querySelector(`[name="${CSS.escape(name.split(".")[0])}"]`);
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    const note = h("span", { class: "field-error", role: "alert" }, message);
    control.closest(".field")?.append(note) ?? control.after(note);
    shown = true;
  }
  return shown;
}

/** A modal <dialog>; resolves with the form's submit result or null when cancelled. */
export function openDialog(title, body, { submitLabel, onSubmit } = {}) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog", class: "dialog-form" });
    const status = h("p", { class: "form-status", role: "alert" });
    const dialog = h("dialog", { class: "dialog", "aria-label": title },
      h("h2", {}, title), form);
    form.append(body, status, h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", on: { click: () => dialog.close("cancel") } },
        t("common.cancel")),
      h("button", { type: "submit", class: "primary" }, submitLabel || t("common.save"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = "";
      try {
        const result = onSubmit ? await onSubmit(form) : true;
        dialog.close("ok");
        resolve(result);
      } catch (err) {
        if (!showFieldErrors(form, err) || !err.fields) status.textContent = errorText(err);
        else status.textContent = err.message;
      }
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (dialog.returnValue !== "ok") resolve(null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Login: a user name and a password; the server sets the session cookie.

import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { navigate, queryParams } from "../router.js";
import { login } from "../session.js";
import { errorText } from "../ui.js";

export async function render(main) {
  document.getElementById("pops")?.replaceChildren();
  const status = h("p", { class: "form-status", role: "alert", id: "login-status" });
  const form = h("form", { class: "panel login-form", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, t("auth.title")),
    field(t("auth.login"), h("input", { name: "login", id: "login-name", autocomplete: "username",
      required: true, autofocus: true })),
    field(t("auth.password"), h("input", { name: "password", id: "login-password", type: "password",
      autocomplete: "current-password", required: true })),
    status,
    h("button", { type: "submit", class: "primary" }, t("auth.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const data = new FormData(form);
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await login(String(data.get("login")).trim(), String(data.get("password")));
      window.dispatchEvent(new CustomEvent("logged-in"));
      const next = queryParams().next;
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/board", { replace: true });
    } catch (err) {
      status.textContent = err.status === 401 || err.status === 422 ? t("auth.failed") : errorText(err);
      button.disabled = false;
    }
  });
  replace(main, h("div", { class: "login-page" }, form));
}

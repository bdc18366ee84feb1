// The app shell: top bar, routing to screens, the screen-pop panel on every page.

import { h, options, replace } from "./dom.js";
import { LOCALES, currentLocale, initialLocale, setLocale, t } from "./i18n.js";
import { match, navigate, route, startRouter } from "./router.js";
import { isAdmin, isHead, loadMe, logout, session } from "./session.js";
import { failed, toast } from "./ui.js";
import { startPops, stopPops } from "./pops.js";

route("/login", () => import("./views/login.js"));
route("/", () => import("./views/board.js"));
route("/board", () => import("./views/board.js"));
route("/board/:pipelineId", () => import("./views/board.js"));
route("/deals/:id", () => import("./views/deal.js"));
route("/contacts", () => import("./views/contacts.js"));
route("/contacts/:id", () => import("./views/contact.js"));
route("/tasks", () => import("./views/tasks.js"));
route("/import", () => import("./views/import.js"));
route("/unsorted", () => import("./views/unsorted.js"));
route("/pool", () => import("./views/pool.js"));
route("/reports", () => import("./views/reports.js"));
route("/stuck", () => import("./views/stuck.js"));
route("/admin", () => import("./views/admin.js"));
route("/admin/:section", () => import("./views/admin.js"));

const main = () => document.getElementById("main");
let cleanup = null;
let renderToken = 0;

function navLink(href, label, active) {
  return h("a", { href, class: ["nav-link", active && "active"], "aria-current": active ? "page" : null }, label);
}

function renderTopbar() {
  const bar = document.getElementById("topbar");
  // The page's fixed landmarks speak the chosen language too.
  document.querySelector(".skip").textContent = t("nav.skip");
  document.getElementById("pops").setAttribute("aria-label", t("pop.title"));
  const path = location.pathname;
  const user = session.user;
  const language = h("select", { id: "language", "aria-label": t("nav.language"),
    on: { change: async (e) => { await setLocale(e.target.value); render(); } } },
  options(LOCALES.map((l) => [l.code, l.label]), currentLocale()));
  replace(bar,
    h("a", { href: "/board", class: "brand" }, t("app.name")),
    user ? h("nav", { "aria-label": t("nav.main") },
      navLink("/board", t("nav.board"), path === "/" || path.startsWith("/board") || path.startsWith("/deals")),
      navLink("/unsorted", t("nav.unsorted"), path === "/unsorted"),
      navLink("/contacts", t("nav.contacts"), path.startsWith("/contacts")),
      navLink("/pool", t("nav.pool"), path === "/pool"),
      navLink("/tasks", t("nav.tasks"), path === "/tasks"),
      navLink("/import", t("nav.import"), path === "/import"),
      isHead() ? navLink("/reports", t("nav.reports"), path === "/reports") : null,
      isHead() ? navLink("/stuck", t("nav.stuck"), path === "/stuck") : null,
      isAdmin() ? navLink("/admin", t("nav.admin"), path.startsWith("/admin")) : null) : h("span"),
    h("div", { class: "topbar-end" },
      language,
      user ? h("span", { class: "whoami", "data-testid": "whoami" },
        h("span", { class: "user-name" }, user.display_name || user.login),
        h("span", { class: ["role-badge", `role-${user.role}`] }, t(`role.${user.role}`))) : null,
      user ? h("button", { type: "button", class: "secondary small", id: "logout",
        on: { click: doLogout } }, t("nav.logout")) : null));
}

async function doLogout() {
  try {
    await logout();
  } catch (err) {
    toast(err.message, "error");
  }
  stopPops();
  navigate("/login");
}

export async function render() {
  const token = ++renderToken;
  if (cleanup) {
    try { cleanup(); } catch (err) { console.error(err); }
    cleanup = null;
  }
  const found = match(location.pathname);
  if (!session.user && location.pathname !== "/login") {
    navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    return;
  }
  if (session.user && location.pathname === "/login") {
    navigate("/board", { replace: true });
    return;
  }
  renderTopbar();
  const el = main();
  if (!found) {
    failed(el, { status: 404 });
    return;
  }
  try {
    const module = await found.view();
    if (token !== renderToken) return;
    document.title = t("app.name");
    const result = await module.render(el, found.params, { rerender: render });
    if (token === renderToken) cleanup = typeof result === "function" ? result : null;
    else if (typeof result === "function") result();
  } catch (err) {
    console.error(err);
    if (token === renderToken) failed(el, err);
  }
}

async function boot() {
  await setLocale(initialLocale());
  window.addEventListener("auth-lost", () => {
    if (!session.user) return;
    session.user = null;
    stopPops();
    toast(t("auth.session_expired"), "error");
    navigate(`/login?next=${encodeURIComponent(location.pathname)}`, { replace: true });
  });
  window.addEventListener("logged-in", () => startPops());
  try {
    await loadMe();
  } catch (err) {
    toast(err.message, "error");
  }
  if (session.user) {
    if (session.user.locale && !localStorage.getItem("locale")) await setLocale(session.user.locale);
    startPops();
  }
  startRouter(render);
}

boot();

// Path-based routing for the single-page app: links stay real links, history works.

const routes = [];
let onChange = () => {};

/** Register pattern like "/deals/:id" with its view loader. */
export function route(pattern, view) {
  const names = [];
  const regex = new RegExp("^" + pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  }) + "/?$");
  routes.push({ regex, names, view, pattern });
}

export function match(pathname) {
  for (const entry of routes) {
    const found = entry.regex.exec(pathname);
    if (found) {
      const params = Object.fromEntries(entry.names.map((n, i) => [n, decodeURIComponent(found[i + 1])]));
      return { ...entry, params };
    }
  }
  return null;
}

export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname + location.search) {
    onChange();
    return;
  }
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  onChange();
}

export function startRouter(callback) {
  onChange = callback;
  window.addEventListener("popstate", () => onChange());
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
    if (!match(url.pathname)) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  onChange();
}

export function queryParams() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

/** Update the query string without a new history entry (filters). */
export function setQueryParams(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) params.set(key, value);
  const search = params.toString();
  history.replaceState({}, "", location.pathname + (search ? `?${search}` : ""));
}

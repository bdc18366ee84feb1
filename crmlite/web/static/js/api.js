// The REST client: JSON in and out, the session cookie plus the CSRF header on unsafe methods,
// and problem+json errors turned into ApiError with per-field messages.

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const CSRF_HEADER = "X-CSRF-Token";
let csrfToken = sessionStorage.getItem("csrf") || null;

export function setCsrfToken(token) {
  csrfToken = token || null;
  if (token) sessionStorage.setItem("csrf", token);
  else sessionStorage.removeItem("csrf");
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.slug = problem?.slug || `http-${status}`;
    this.problem = problem || {};
    // field name -> message, from problem+json `errors`
    this.fields = {};
    for (const item of problem?.errors || []) {
      const name = String(item.field || "").replace(/^body\./, "");
      if (name) this.fields[name] = item.message;
    }
  }
}

function buildUrl(path, query) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(key, v));
    else url.searchParams.set(key, value);
  }
  return url;
}

export async function request(method, path, { body, query, signal } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method) && csrfToken) headers[CSRF_HEADER] = csrfToken;
  const response = await fetch(buildUrl(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new ApiError(response.status, typeof data === "object" ? data : { detail: data });
    if (response.status === 401 && !path.endsWith("/auth/login")) {
      window.dispatchEvent(new CustomEvent("auth-lost"));
    }
    throw error;
  }
  const token = response.headers.get(CSRF_HEADER);
  if (token) setCsrfToken(token);
  return data;
}

export const api = {
  get: (path, query, opts) => request("GET", path, { ...opts, query }),
  post: (path, body, opts) => request("POST", path, { ...opts, body: body ?? {} }),
  put: (path, body, opts) => request("PUT", path, { ...opts, body }),
  patch: (path, body, opts) => request("PATCH", path, { ...opts, body }),
  delete: (path, opts) => request("DELETE", path, opts),
};

/** Items of a list answer, whether it is a page ({items}) or a bare array. */
export function itemsOf(answer) {
  if (Array.isArray(answer)) return answer;
  return answer?.items ?? [];
}

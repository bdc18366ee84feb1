// Who is logged in, and the reference data every screen shares (pipelines, users).

import { api, itemsOf, setCsrfToken } from "./api.js";
import { setRegion } from "./i18n.js";

export const session = {
  user: null,
  pipelines: null,
  users: null,
  currency: "RUB",
};

export const isHead = () => ["head", "admin"].includes(session.user?.role);
export const isAdmin = () => session.user?.role === "admin";

function adopt(answer) {
  const user = answer?.user ?? answer;
  session.user = user;
  const csrf = answer?.csrf_token ?? user?.csrf_token;
  if (csrf) setCsrfToken(csrf);
  setRegion(answer?.default_region ?? user?.default_region);
  if (answer?.currency) session.currency = answer.currency;
  return user;
}

export async function loadMe() {
  try {
    return adopt(await api.get("/api/v1/auth/me"));
  } catch (err) {
    if (err.status === 401) {
      session.user = null;
      return null;
    }
    throw err;
  }
}

export async function login(loginName, password) {
  const answer = await api.post("/api/v1/auth/login", { login: loginName, password });
  session.pipelines = null;
  session.users = null;
  adopt(answer);
  // The login answer may be partial; /me is the reference.
  return (await loadMe()) ?? session.user;
}

export async function logout() {
  try {
    await api.post("/api/v1/auth/logout", {});
  } finally {
    session.user = null;
    session.pipelines = null;
    session.users = null;
    setCsrfToken(null);
  }
}

export async function pipelines({ refresh = false } = {}) {
  if (!session.pipelines || refresh) {
    const list = itemsOf(await api.get("/api/v1/pipelines"));
    session.pipelines = list.sort((a, b) => (a.position ?? 0) - (b.position ?? 0) || a.id - b.id);
  }
  return session.pipelines;
}

/** Users the current user may see (sellers get themselves if the list is refused). */
export async function users({ refresh = false } = {}) {
  if (!session.users || refresh) {
    try {
      session.users = itemsOf(await api.get("/api/v1/users", { limit: 200 }));
    } catch (err) {
      if (err.status !== 403 && err.status !== 404) throw err;
      session.users = session.user ? [session.user] : [];
    }
  }
  return session.users;
}

export function userName(id) {
  if (id === null || id === undefined) return "";
  const found = (session.users || []).find((u) => u.id === id);
  return found ? found.display_name || found.login : `#${id}`;
}

export function stageById(id) {
  for (const pipeline of session.pipelines || []) {
    const stage = (pipeline.stages || []).find((s) => s.id === id);
    if (stage) return { ...stage, pipeline };
  }
  return null;
}

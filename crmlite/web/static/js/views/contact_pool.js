// The contact page's part of the public pool: release (with a reason) or claim, and the history
// of its returns, releases, claims and assignments.

import { h } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { claimContact, reasonText, releaseDialog } from "../pool.js";

/** The header's button: Release for a held contact, Claim for one in the pool. */
export function poolActions(contact, refresh) {
  if (contact.pooled_at) {
    return h("button", { type: "button", class: "primary small", "data-testid": "contact-claim",
      on: { click: async () => { if (await claimContact(contact.id)) refresh(); } } }, t("pool.claim"));
  }
  const mayRelease = contact.owner_id !== null
    && (contact.owner_id === session.user?.id || ["head", "admin"].includes(session.user?.role));
  if (!mayRelease) return null;
  return h("button", { type: "button", class: "secondary small", "data-testid": "contact-release",
    on: { click: async () => {
      if (!(await releaseDialog(contact))) return;
      // A seller no longer sees a contact in the pool: back to the pool, where it now is.
      if (["head", "admin"].includes(session.user?.role)) refresh();
      else navigate("/pool");
    } } }, t("pool.release"));
}

/** The pool history, oldest first; nothing when the contact never went through the pool. */
export function poolPanel(events) {
  if (!events?.length) return null;
  return h("section", { class: "panel", style: { marginTop: "1rem" }, "aria-labelledby": "contact-pool" },
    h("h2", { id: "contact-pool" }, t("pool.history")),
    h("ul", { class: "timeline", "data-testid": "pool-history" }, events.map((e) => h("li", {},
      h("span", {}, formatDateTime(e.at)),
      h("span", {}, eventText(e))))));
}

function eventText(e) {
  const by = e.by_user_name || t("pool.by_rule");
  switch (e.kind) {
    case "returned": return t("pool.event_returned", { from: e.from_user_name || "—", reason: reasonText(e.kind, e.reason) });
    case "released": return t("pool.event_released", { from: e.from_user_name || "—", reason: e.reason || "—" });
    case "claimed": return t("pool.event_claimed", { to: e.to_user_name || "—" });
    case "assigned": return t("pool.event_assigned", { to: e.to_user_name || "—", by });
    default: return e.kind;
  }
}

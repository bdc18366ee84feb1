// A ringing card for a contact in the public pool: "in the pool", who had it, and (when
// [pool] ring = queue) a Claim button for whoever answered.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { claimContact, reasonText } from "./pool.js";

// Contacts this tab claimed from a card: a redrawn card (the CRM named the deal late) says so
// instead of offering Claim again.
const claimed = new Set();

export function poolNote(card) {
  const pool = card.pool;
  if (card.contact && claimed.has(card.contact.id)) {
    return yours(card.contact.id);
  }
  const previous = pool.previous_owner?.name;
  const claimable = pool.ring === "queue" && card.contact && (card.status === "in-call" || card.status === "wrap-up");
  const note = h("div", { class: "pop-pool", "data-testid": "pop-pool" },
    h("strong", {}, t("pool.in_pool")),
    previous ? h("span", { class: "muted" }, " · ", t("pool.previous_owner_was", { name: previous })) : null,
    pool.reason ? h("span", { class: "muted" }, " · ", reasonText(pool.kind, pool.reason)) : null);
  if (claimable) {
    const button = h("button", { type: "button", class: "primary small", "data-testid": "pop-claim",
      on: { click: async () => {
        button.disabled = true;
        if (await claimContact(card.contact.id)) {
          claimed.add(card.contact.id);
          // The card may have been redrawn while the claim was under way: mark the one shown.
          const shown = document.querySelector(`.pop[data-linkedid="${CSS.escape(card.linkedid)}"] [data-testid="pop-pool"]`);
          (shown || note).replaceWith(yours(card.contact.id));
        } else {
          button.disabled = false;
        }
      } } }, t("pool.claim"));
    note.append(" ", button);
  }
  return note;
}

function yours(contactId) {
  return h("div", { class: "pop-pool", "data-testid": "pop-pool" },
    h("a", { href: `/contacts/${contactId}` }, t("pool.now_yours")));
}

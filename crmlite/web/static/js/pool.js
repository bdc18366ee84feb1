// The public pool's actions, shared by the Pool screen, the contact page and the ringing card.

import { api } from "./api.js";
import { field, h } from "./dom.js";
import { t } from "./i18n.js";
import { openDialog, errorText, toast } from "./ui.js";

/** Claim a pool contact for oneself; resolves with the contact, or null when refused (told). */
export async function claimContact(contactId) {
  try {
    const contact = await api.post(`/api/v1/contacts/${contactId}/claim`);
    toast(t("pool.claimed"), "success");
    return contact;
  } catch (err) {
    toast(refusalText(err), "error");
    return null;
  }
}

/** A head gives a pool contact to a seller. */
export async function assignContact(contactId, userId) {
  try {
    const contact = await api.post(`/api/v1/contacts/${contactId}/assign`, { user_id: Number(userId) });
    toast(t("pool.assigned"), "success");
    return contact;
  } catch (err) {
    toast(refusalText(err), "error");
    return null;
  }
}

/** Ask why, then give the contact back to the pool; resolves with the contact or null. */
export function releaseDialog(contact) {
  const body = h("div", {},
    h("p", {}, t("pool.release_explain", { name: contact.name })),
    field(t("pool.release_reason"), h("input", { name: "reason", required: true, maxlength: 200, id: "release-reason" })));
  return openDialog(t("pool.release_title"), body, {
    submitLabel: t("pool.release"),
    onSubmit: (form) => api.post(`/api/v1/contacts/${contact.id}/release`, { reason: form.elements.reason.value }),
  });
}

/** Why a claim was refused, in the user's words (the limit and the cool-down say their numbers). */
export function refusalText(err) {
  const slug = err?.problem?.slug;
  const details = err?.problem?.details || {};
  if (slug === "pool-limit-reached") return t("pool.limit_reached", { max: details.max_held });
  if (slug === "reclaim-cooldown") return t("pool.cooldown", { until: new Date(details.until).toLocaleDateString() });
  if (slug === "already-claimed") return t("pool.already_claimed");
  return errorText(err);
}

/** How a contact came back: the idle rule, or a seller's reason. */
export function reasonText(kind, reason) {
  if (kind === "returned" && reason === "idle") return t("pool.reason_idle");
  return reason || "—";
}

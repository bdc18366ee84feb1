// Duplicates (查重) on the contact page: the server's candidates, and the dialog that merges one.

import { api } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { userName } from "./session.js";
import { openDialog } from "./ui.js";

const FIELDS = ["name", "company", "email", "owner_id"];

/** The server's duplicate candidates of a contact ({items, hidden}); empty on any failure. */
export async function duplicatesOf(contactId) {
  try {
    return await api.get(`/api/v1/contacts/${contactId}/duplicates`);
  } catch (err) {
    console.warn("duplicate check failed", err);
    return { items: [], hidden: 0 };
  }
}

/** Why a candidate matched, for people: "same phone, same name". */
export function reasonsText(candidate) {
  return candidate.reasons.map((reason) => t(`duplicates.reason.${reason}`)).join(", ");
}

function shown(field, value) {
  if (value === null || value === undefined || value === "") return "—";
  return field === "owner_id" ? (userName(value) || `#${value}`) : String(value);
}

/** The fields both contacts fill in differently: the ones a person must choose. */
export function conflicts(survivor, other) {
  return FIELDS.filter((field) => survivor[field] != null && other[field] != null
    && survivor[field] !== "" && other[field] !== "" && survivor[field] !== other[field]);
}

/** Ask which value each conflicting field keeps, then merge ``otherId`` into ``survivor``. */
export async function mergeDialog(survivor, otherId) {
  const other = await api.get(`/api/v1/contacts/${otherId}`);
  const differing = conflicts(survivor, other);
  const rows = differing.map((field) => h("fieldset", { class: "merge-field", "data-field": field },
    h("legend", {}, t(`duplicates.field.${field}`)),
    h("label", {}, h("input", { type: "radio", name: field, value: "into", checked: true }),
      " ", shown(field, survivor[field])),
    h("label", {}, h("input", { type: "radio", name: field, value: "from" }),
      " ", shown(field, other[field]))));
  const body = h("div", { class: "merge-body" },
    h("p", {}, t("duplicates.merge_intro", { other: other.name, survivor: survivor.name })),
    rows.length ? rows : h("p", { class: "muted" }, t("duplicates.no_conflicts")));
  return openDialog(t("duplicates.merge_title"), body, {
    submitLabel: t("duplicates.merge"),
    onSubmit: async (form) => {
      const keep = {};
      for (const field of differing) keep[field] = form.elements[field].value;
      return api.post(`/api/v1/contacts/${survivor.id}/merge`, { from_id: other.id, keep });
    },
  });
}

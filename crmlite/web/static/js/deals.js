// Deals as the screens use them: read the API's shapes, move a deal, the "new deal" dialog.

import { api, itemsOf } from "./api.js";
import { field, h, options } from "./dom.js";
import { t } from "./i18n.js";
import { isHead, pipelines, session, users } from "./session.js";
import { openDialog } from "./ui.js";

/** A card of the board from whatever the board or deals endpoint returns. */
export function normalizeDeal(raw) {
  const contact = raw.contact ?? (raw.contact_id ? { id: raw.contact_id, name: raw.contact_name } : null);
  // Without a name from the server, screens ask userName() when they draw (users load later).
  const owner = raw.owner ?? (raw.owner_id ? { id: raw.owner_id, display_name: raw.owner_name ?? null } : null);
  return {
    ...raw,
    id: raw.id,
    title: raw.title,
    amount: raw.amount,
    currency: raw.currency || session.currency,
    contact,
    owner,
    owner_id: raw.owner_id ?? owner?.id ?? null,
    stage_id: raw.stage_id ?? raw.stage?.id,
    pipeline_id: raw.pipeline_id ?? raw.pipeline?.id,
    stage_entered_at: raw.stage_entered_at ?? raw.created_at,
    version: raw.version,
  };
}

export function daysInStage(deal, now = Date.now()) {
  if (present(deal.days_in_stage)) return deal.days_in_stage;
  const since = new Date(deal.stage_entered_at).getTime();
  return Number.isFinite(since) ? Math.max(0, Math.floor((now - since) / 86400000)) : 0;
}

function present(value) {
  return value !== undefined && value !== null;
}

/** Ask the server to move a deal; answers the updated deal. */
export async function moveDeal(deal, stageId, extra = {}) {
  const body = { stage_id: Number(stageId), ...extra };
  if (present(deal.version)) body.expected_version = deal.version;
  return normalizeDeal(await api.post(`/api/v1/deals/${deal.id}/move`, body));
}

/** The "new deal" dialog; resolves with the created deal or null. */
export async function newDealDialog({ pipelineId, stageId, contact } = {}) {
  const allPipelines = await pipelines();
  const pipeline = allPipelines.find((p) => p.id === Number(pipelineId)) || allPipelines[0];
  const people = isHead() ? await users() : [];
  const stageSelect = h("select", { name: "stage_id", required: true },
    options((pipeline?.stages || []).map((s) => [s.id, s.name]), stageId ?? pipeline?.stages?.[0]?.id));
  const contactList = h("datalist", { id: "contact-options" });
  const contactInput = h("input", { name: "contact", list: "contact-options", autocomplete: "off",
    value: contact ? `${contact.name} #${contact.id}` : "", placeholder: t("deal.contact_search") });
  contactInput.addEventListener("input", async () => {
    const q = contactInput.value.trim();
    if (q.length < 2 || /#\d+$/.test(q)) return;
    const found = itemsOf(await api.get("/api/v1/contacts", { q, limit: 10 }));
    contactList.replaceChildren(...found.map((c) => h("option", { value: `${c.name} #${c.id}` }, c.company || "")));
  });
  const body = h("div", { class: "form-grid" },
    field(t("deal.title"), h("input", { name: "title", required: true, maxlength: 200, autofocus: true })),
    field(t("deal.amount"), h("input", { name: "amount", type: "number", min: 0, step: "0.01", inputmode: "decimal" })),
    field(t("deal.currency"), h("input", { name: "currency", value: session.currency, maxlength: 3, pattern: "[A-Za-z]{3}" })),
    field(t("deal.stage"), stageSelect),
    field(t("deal.contact"), contactInput), contactList,
    field(t("deal.phone_new_contact"), h("input", { name: "phone", type: "tel", autocomplete: "off" })),
    isHead() ? field(t("deal.owner"), h("select", { name: "owner_id" },
      options([["", t("deal.owner_me")], ...people.map((u) => [u.id, u.display_name || u.login])], ""))) : null);
  return openDialog(t("deal.new"), body, {
    submitLabel: t("deal.create"),
    onSubmit: async (form) => {
      const data = Object.fromEntries(new FormData(form).entries());
      const payload = {
        title: data.title.trim(),
        pipeline_id: pipeline.id,
        stage_id: Number(data.stage_id),
        currency: (data.currency || session.currency).toUpperCase(),
      };
      if (data.amount) payload.amount = data.amount;
      if (data.owner_id) payload.owner_id = Number(data.owner_id);
      const picked = /#(\d+)$/.exec(data.contact || "");
      if (picked) payload.contact_id = Number(picked[1]);
      else if (data.contact?.trim() || data.phone?.trim()) {
        const created = await api.post("/api/v1/contacts", {
          name: data.contact?.trim() || data.phone.trim(),
          phones: data.phone?.trim() ? [{ raw: data.phone.trim() }] : [],
        });
        payload.contact_id = created.id;
      }
      return normalizeDeal(await api.post("/api/v1/deals", payload));
    },
  });
}

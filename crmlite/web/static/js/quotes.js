// Quotes on the deal page: the list of quotes and versions, the editor, send/accept/reject/revise,
// the print view. Every amount shown comes from the server (the editor asks it for a preview).

import { api, itemsOf } from "./api.js";
import { field, formValues, h, options, replace } from "./dom.js";
import { LOCALES, currentLocale, formatDate, formatMoney, t } from "./i18n.js";
import { errorText, showFieldErrors, toast } from "./ui.js";

const money = (amount, currency) => formatMoney(amount, currency, { maximumFractionDigits: 2 });

/** Draw the quotes panel of a deal into el; onDealChanged runs after an acceptance. */
export async function renderQuotes(el, deal, onDealChanged) {
  let quotes;
  try {
    quotes = await api.get(`/api/v1/deals/${deal.id}/quotes`);
  } catch (err) {
    replace(el, h("h2", {}, t("quote.title")), h("p", { class: "muted" }, errorText(err)));
    return;
  }
  const redraw = () => renderQuotes(el, deal, onDealChanged);
  replace(el,
    h("div", { class: "page-header" },
      h("h2", { id: "deal-quotes" }, t("quote.title")),
      h("button", { type: "button", class: "secondary small", id: "new-quote",
        on: { click: () => openEditor(el, deal, null, redraw) } }, "+ ", t("quote.new"))),
    quotes.length ? quoteTable(quotes, deal, redraw, onDealChanged, el)
      : h("p", { class: "muted" }, t("quote.none")));
}

function quoteTable(quotes, deal, redraw, onDealChanged, el) {
  return h("table", { class: "data", "data-testid": "quotes-table" },
    h("thead", {}, h("tr", {},
      [t("quote.number"), t("quote.status"), t("quote.valid_until"), t("quote.total"), ""]
        .map((label, i) => h("th", { scope: "col", class: i === 3 ? "num" : null }, label)))),
    h("tbody", {}, quotes.map((quote) => h("tr", { "data-quote-id": quote.id },
      h("td", {}, quote.number, quote.version > 1 ? ` · v${quote.version}` : ""),
      h("td", {}, h("span", { class: ["stage-pill", `quote-${quote.status}`], "data-testid": "quote-status" },
        t(`quote.status.${quote.status}`))),
      h("td", {}, quote.valid_until ? formatDate(quote.valid_until) : "—"),
      h("td", { class: "num", "data-testid": "quote-total" }, money(quote.total, quote.currency)),
      h("td", { class: "actions" }, quoteActions(quote, deal, redraw, onDealChanged, el))))));
}

function quoteActions(quote, deal, redraw, onDealChanged, el) {
  const act = (label, run, cls = "secondary") => h("button", { type: "button", class: `${cls} small`,
    on: { click: async () => {
      try {
        if ((await run()) !== false) redraw();
      } catch (err) {
        toast(errorText(err), "error");
      }
    } } }, label);
  const can = new Set(quote.actions);
  return [
    h("a", { href: `/api/v1/quotes/${quote.id}/print`, target: "_blank", rel: "noopener",
      class: "button secondary small", "data-testid": "quote-print" }, t("quote.print")),
    can.has("edit") ? act(t("common.edit"), async () => {
      await openEditor(el, deal, await api.get(`/api/v1/quotes/${quote.id}`), redraw);
      return false; // the editor took the panel's place
    }) : null,
    can.has("send") ? act(t("quote.send"), () => api.post(`/api/v1/quotes/${quote.id}/send`)) : null,
    can.has("accept") ? act(t("quote.accept"), async () => {
      await api.post(`/api/v1/quotes/${quote.id}/accept`, {});
      toast(t("quote.accepted"), "success");
      onDealChanged();
    }, "success") : null,
    can.has("reject") ? act(t("quote.reject"), () => api.post(`/api/v1/quotes/${quote.id}/reject`)) : null,
    can.has("revise") ? act(t("quote.revise"), () => api.post(`/api/v1/quotes/${quote.id}/revise`)) : null,
    can.has("delete") ? act(t("common.delete"), () => api.delete(`/api/v1/quotes/${quote.id}`), "danger") : null,
  ];
}

async function openEditor(el, deal, quote, redraw) {
  const products = itemsOf(await api.get("/api/v1/products", { active: true, limit: 200 }).catch(() => []));
  const currency = quote?.currency || deal.currency || "RUB";
  const lines = h("tbody", {});
  const totals = h("div", { class: "quote-totals", "data-testid": "quote-editor-totals", "aria-live": "polite" });
  const form = h("form", { class: "quote-editor", "aria-label": t("quote.editor") },
    h("h3", {}, quote ? `${quote.number} · v${quote.version}` : t("quote.new")),
    h("div", { class: "form-grid" },
      field(t("quote.currency"), h("input", { name: "currency", value: currency, maxlength: 3, required: true })),
      field(t("quote.tax_mode"), h("select", { name: "tax_mode" },
        options([["exclusive", t("quote.tax_exclusive")], ["inclusive", t("quote.tax_inclusive")]], quote?.tax_mode))),
      field(t("quote.tax_rounding"), h("select", { name: "tax_rounding" },
        options([["per_line", t("quote.per_line")], ["per_total", t("quote.per_total")]], quote?.tax_rounding))),
      field(t("quote.language"), h("select", { name: "locale" },
        options(LOCALES.map((l) => [l.code, l.label]), quote?.locale || currentLocale()))),
      field(t("quote.valid_until"), h("input", { name: "valid_until", type: "date", value: quote?.valid_until || "" }))),
    h("table", { class: "data quote-lines" },
      h("thead", {}, h("tr", {}, [t("quote.product"), t("quote.description"), t("quote.quantity"),
        t("quote.unit_price"), t("quote.discount"), t("quote.tax_rate"), t("quote.line_total"), ""]
        .map((label) => h("th", { scope: "col" }, label)))),
      lines),
    h("div", { class: "actions", style: { justifyContent: "flex-start" } },
      h("button", { type: "button", class: "secondary small", id: "add-quote-line",
        on: { click: () => { addLine(lines, products, {}, refreshTotals); } } }, "+ ", t("quote.add_line"))),
    field(t("quote.notes"), h("textarea", { name: "notes", rows: 2, maxlength: 4000 }, quote?.notes || "")),
    totals,
    h("p", { class: "form-status", role: "alert" }),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", on: { click: redraw } }, t("common.cancel")),
      h("button", { type: "submit", class: "primary", id: "save-quote" }, t("common.save"))));

  let timer = null;
  let asked = 0;
  function refreshTotals() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const body = collect(form, lines);
      const ticket = ++asked;
      try {
        const result = await api.post("/api/v1/quotes/preview", {
          currency: body.currency, tax_mode: body.tax_mode, tax_rounding: body.tax_rounding,
          lines: body.lines.map(({ quantity, unit_price, discount_percent, tax_rate }) =>
            ({ quantity, unit_price: unit_price ?? "0", discount_percent, tax_rate: tax_rate ?? "0" })),
        });
        if (ticket !== asked) return;
        [...lines.children].forEach((row, i) => {
          row.querySelector(".line-total").textContent = money(result.lines[i]?.total ?? "0", result.currency);
        });
        showTotals(totals, result);
      } catch (err) {
        if (ticket === asked) replace(totals, h("p", { class: "muted" }, errorText(err)));
      }
    }, 250);
  }
  form.addEventListener("input", refreshTotals);
  form.addEventListener("change", refreshTotals);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = form.querySelector(".form-status");
    status.textContent = "";
    try {
      const body = collect(form, lines);
      if (quote) await api.put(`/api/v1/quotes/${quote.id}`, body);
      else await api.post(`/api/v1/deals/${deal.id}/quotes`, body);
      toast(t("quote.saved"), "success");
      redraw();
    } catch (err) {
      if (!showFieldErrors(form, err)) status.textContent = errorText(err);
    }
  });
  for (const line of quote?.lines || [{}]) addLine(lines, products, line, refreshTotals);
  replace(el, form);
  refreshTotals();
}

function addLine(tbody, products, line, onChange) {
  const product = h("select", { name: "product_id", "aria-label": t("quote.product") },
    options([["", t("quote.free_text")], ...products.map((p) => [p.id, `${p.name} (${p.sku})`])], line.product_id ?? ""));
  const input = (name, value, attrs = {}) => h("input", { name, value: value ?? "", "aria-label": t(`quote.${name}`), ...attrs });
  const row = h("tr", { class: "quote-line" },
    h("td", {}, product),
    h("td", {}, input("description", line.description, { maxlength: 500 })),
    h("td", {}, input("quantity", line.quantity ?? "1", { inputmode: "decimal", size: 5 })),
    h("td", {}, input("unit_price", line.unit_price, { inputmode: "decimal", size: 8 })),
    h("td", {}, input("discount_percent", line.discount_percent ?? "0", { inputmode: "decimal", size: 4 })),
    h("td", {}, input("tax_rate", line.tax_rate ?? "0", { inputmode: "decimal", size: 4 })),
    h("td", { class: "num line-total" }, "—"),
    h("td", {}, h("button", { type: "button", class: "icon-button", "aria-label": t("quote.remove_line"),
      on: { click: () => { row.remove(); onChange(); } } }, "×")));
  product.addEventListener("change", () => {
    const chosen = products.find((p) => String(p.id) === product.value);
    if (!chosen) return;
    row.querySelector('[name="description"]').value = chosen.name;
    row.querySelector('[name="unit_price"]').value = chosen.unit_price;
    row.querySelector('[name="tax_rate"]').value = chosen.tax_rate;
  });
  tbody.append(row);
  return row;
}

/** The form as the API's QuoteIn: decimals stay strings (commas read as points). */
function collect(form, tbody) {
  const head = formValues(form);
  const decimal = (value) => (value ?? "").replace(",", ".").replace(/\s/g, "");
  const lines = [...tbody.querySelectorAll("tr.quote-line")].map((row) => {
    const get = (name) => row.querySelector(`[name="${name}"]`).value.trim();
    const productId = get("product_id");
    const line = {
      quantity: decimal(get("quantity")) || "1",
      discount_percent: decimal(get("discount_percent")) || "0",
      description: get("description") || undefined,
      unit_price: decimal(get("unit_price")) || undefined,
      tax_rate: decimal(get("tax_rate")) || undefined,
    };
    if (productId) line.product_id = Number(productId);
    return line;
  });
  return {
    lines,
    currency: (head.currency || "").toUpperCase() || undefined,
    tax_mode: head.tax_mode,
    tax_rounding: head.tax_rounding,
    locale: head.locale,
    valid_until: head.valid_until || null,
    notes: head.notes || "",
  };
}

function showTotals(el, result) {
  const rows = [[t("quote.subtotal"), result.subtotal]];
  if (Number(result.discount)) rows.push([t("quote.discount_amount"), `−${result.discount}`]);
  rows.push([t("quote.net"), result.net], [t("quote.tax"), result.tax]);
  replace(el, h("dl", { class: "facts" },
    rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v).startsWith("−") ? `−${money(v.slice(1), result.currency)}` : money(v, result.currency))]),
    h("dt", {}, h("strong", {}, t("quote.total"))),
    h("dd", { "data-testid": "quote-preview-total" }, h("strong", {}, money(result.total, result.currency)))));
}

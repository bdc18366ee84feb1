// Admin: the product catalogue quotes are built from; add, edit, deactivate, import a price list.

import { api, itemsOf } from "./api.js";
import { field, formValues, h, options, replace } from "./dom.js";
import { formatMoney, t } from "./i18n.js";
import { errorText, failed, openDialog, toast } from "./ui.js";

export async function productsSection(body) {
  let list;
  try {
    list = itemsOf(await api.get("/api/v1/products", { limit: 200 }));
  } catch (err) {
    failed(body, err);
    return;
  }
  const reload = () => productsSection(body);
  const fileInput = h("input", { type: "file", accept: ".csv,text/csv", id: "products-file",
    "aria-label": t("product.import") });
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files?.[0];
    if (!file) return;
    try {
      const form = new FormData();
      form.append("file", file);
      const response = await fetch("/api/v1/products/import", { method: "POST", body: form,
        credentials: "same-origin", headers: { "X-CSRF-Token": sessionStorage.getItem("csrf") || "" } });
      const result = await response.json();
      if (!response.ok) throw new Error(result.detail || result.title);
      toast(t("product.imported", result), result.errors ? "error" : "success");
      reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  });
  replace(body,
    h("div", { class: "actions", style: { justifyContent: "flex-start" } },
      h("button", { type: "button", class: "primary", on: { click: () => productDialog(null, reload) } },
        "+ ", t("product.new")),
      field(t("product.import"), fileInput, t("product.import_hint"))),
    h("table", { class: "data panel", "data-testid": "products-table" },
      h("thead", {}, h("tr", {}, [t("product.name"), t("product.sku"), t("product.unit"),
        t("product.unit_price"), t("product.tax_rate"), t("admin.active"), ""]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, list.map((p) => h("tr", {},
        h("td", {}, p.name), h("td", {}, p.sku), h("td", {}, p.unit),
        h("td", { class: "num" }, formatMoney(p.unit_price, p.currency, { maximumFractionDigits: 4 })),
        h("td", { class: "num" }, `${p.tax_rate}%`),
        h("td", {}, p.active ? "✓" : "—"),
        h("td", {}, h("button", { type: "button", class: "secondary small",
          on: { click: () => productDialog(p, reload) } }, t("common.edit"))))))));
}

function productDialog(product, reload) {
  const body = h("div", { class: "form-grid" },
    field(t("product.name"), h("input", { name: "name", required: true, maxlength: 200, value: product?.name || "" })),
    field(t("product.sku"), h("input", { name: "sku", required: true, maxlength: 64, value: product?.sku || "" })),
    field(t("product.unit"), h("input", { name: "unit", maxlength: 32, value: product?.unit || "pcs" })),
    field(t("product.unit_price"), h("input", { name: "unit_price", required: true, inputmode: "decimal", value: product?.unit_price || "" })),
    field(t("quote.currency"), h("input", { name: "currency", maxlength: 3, value: product?.currency || "RUB" })),
    field(t("product.tax_rate"), h("input", { name: "tax_rate", inputmode: "decimal", value: product?.tax_rate || "0" })),
    field(t("admin.active"), h("select", { name: "active" },
      options([["true", "✓"], ["false", "—"]], String(product?.active ?? true)))));
  return openDialog(product ? product.name : t("product.new"), body, {
    onSubmit: async (form) => {
      const data = formValues(form);
      const payload = { ...data, active: data.active === "true",
        unit_price: (data.unit_price || "").replace(",", "."), tax_rate: (data.tax_rate || "0").replace(",", "."),
        currency: (data.currency || "RUB").toUpperCase() };
      if (product) await api.patch(`/api/v1/products/${product.id}`, payload);
      else await api.post("/api/v1/products", payload);
      reload();
      return true;
    },
  });
}

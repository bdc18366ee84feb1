// Import: upload a CSV, map its columns, preview the first rows, run it with a progress bar,
// then the counts and the row report.

import { api, CSRF_HEADER } from "../api.js";
import { h, options, replace } from "../dom.js";
import { formatNumber, t } from "../i18n.js";
import { errorText } from "../ui.js";

const STATUSES = ["created", "updated", "unchanged", "duplicate", "merged", "error"];
const POLL_MS = 400;

async function upload(file, kind) {
  // The file goes as the raw body; fetch sends the cookie, the CSRF header guards the POST.
  const response = await fetch(`/api/v1/imports/uploads?kind=${encodeURIComponent(kind)}`, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "text/csv",
      "X-File-Name": encodeURIComponent(file.name),
      [CSRF_HEADER]: sessionStorage.getItem("csrf") || "",
    },
    body: file,
  });
  const data = await response.json();
  if (!response.ok) throw Object.assign(new Error(data.detail || data.title), { status: response.status });
  return data;
}

function delimiterName(delimiter) {
  return { ",": ",", ";": ";", "\t": t("import.tab"), "|": "|" }[delimiter] || delimiter;
}

export async function render(main) {
  let state = { kind: "contacts", upload: null, mapping: [], timer: null };
  const status = h("p", { class: "form-status", role: "alert" });
  const step = h("div", { id: "import-step" });
  const kind = h("select", { id: "import-kind", name: "kind" },
    options([["contacts", t("import.kind_contacts")], ["deals", t("import.kind_deals")]], "contacts"));
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,.tsv,.txt,text/csv" });

  const showPreview = (answer) => {
    state.upload = answer;
    state.mapping = [...answer.mapping];
    const choices = [["", t("import.skip_column")], ...answer.fields.map((f) => [f, t(`import.field.${f}`)])];
    const mappingRows = answer.header.map((name, index) => h("tr", {},
      h("th", { scope: "row" }, name),
      h("td", {}, h("select", {
        "aria-label": t("import.field_of", { column: name }), "data-column": index, class: "mapping-select",
        on: { change: (e) => { state.mapping[index] = e.target.value || null; } },
      }, options(choices, state.mapping[index] || ""))),
      h("td", { class: "muted" }, answer.rows[0]?.cells[index] ?? "")));
    const previewRows = answer.rows.map((row) => h("tr", { class: row.errors.length ? "row-error" : null },
      h("td", { class: "num" }, row.row),
      row.cells.map((cell) => h("td", {}, cell)),
      h("td", {}, row.errors.length
        ? row.errors.map((e) => h("div", {}, e.column ? `${e.column}: ${e.reason}` : e.reason))
        : t("import.row_ok"))));
    const dryRun = h("input", { type: "checkbox", id: "import-dry-run" });
    const merge = h("input", { type: "checkbox", id: "import-merge" });
    replace(step,
      h("p", { "data-testid": "import-detected" }, t("import.detected", {
        encoding: answer.encoding, delimiter: delimiterName(answer.delimiter), rows: formatNumber(answer.rows_total) })),
      h("section", { class: "panel", "aria-labelledby": "mapping-title" },
        h("h2", { id: "mapping-title" }, t("import.mapping")),
        h("table", { class: "data", id: "import-mapping" },
          h("thead", {}, h("tr", {}, h("th", {}, t("import.column")), h("th", {}, t("import.field")),
            h("th", {}, t("import.example")))),
          h("tbody", {}, mappingRows)),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary", id: "import-preview", on: { click: refresh } },
            t("import.preview")))),
      h("section", { class: "panel", "aria-labelledby": "preview-title", style: { marginTop: "1rem" } },
        h("h2", { id: "preview-title" }, t("import.preview_title")),
        h("div", { class: "table-scroll" }, h("table", { class: "data", id: "import-preview-table" },
          h("thead", {}, h("tr", {}, h("th", { class: "num" }, t("import.row")),
            answer.header.map((name) => h("th", {}, name)), h("th", {}, t("import.check")))),
          h("tbody", {}, previewRows))),
        h("div", { class: "toolbar", style: { marginTop: "0.75rem" } },
          h("label", { class: "checkbox" }, dryRun, t("import.dry_run")),
          state.kind === "contacts" ? h("label", { class: "checkbox" }, merge, t("import.merge")) : null,
          h("button", { type: "button", class: "primary", id: "import-run",
            on: { click: () => run({ dry_run: dryRun.checked, merge: merge.checked }) } }, t("import.run")))));
  };

  async function refresh() {
    status.textContent = "";
    try {
      showPreview(await api.post(`/api/v1/imports/uploads/${state.upload.upload_id}/preview`,
        { kind: state.kind, mapping: state.mapping, delimiter: state.upload.delimiter }));
    } catch (err) {
      status.textContent = errorText(err);
    }
  }

  async function run(choice) {
    status.textContent = "";
    let job;
    try {
      job = await api.post("/api/v1/imports", { upload_id: state.upload.upload_id, kind: state.kind,
        mapping: state.mapping, delimiter: state.upload.delimiter, ...choice });
    } catch (err) {
      status.textContent = errorText(err);
      return;
    }
    const bar = h("progress", { id: "import-progress", max: 1, value: 0, "aria-label": t("import.progress") });
    const label = h("span", { "aria-live": "polite" });
    replace(step, h("section", { class: "panel" }, h("h2", {}, t("import.running")), bar, " ", label));
    const poll = async () => {
      try {
        job = await api.get(`/api/v1/imports/${job.id}`);
      } catch (err) {
        status.textContent = errorText(err);
        return;
      }
      bar.max = Math.max(job.rows_total, 1);
      bar.value = job.rows_done;
      label.textContent = t("import.progress_rows", { done: formatNumber(job.rows_done), total: formatNumber(job.rows_total) });
      if (job.status === "running") state.timer = setTimeout(poll, POLL_MS);
      else await showResult(job);
    };
    await poll();
  }

  async function showResult(job) {
    const report = await api.get(`/api/v1/imports/${job.id}/rows`, { limit: 200 });
    replace(step, h("section", { class: "panel", "aria-labelledby": "result-title", "data-testid": "import-result" },
      h("h2", { id: "result-title" }, job.status === "done"
        ? (job.dry_run ? t("import.done_dry") : t("import.done")) : t("import.failed", { error: job.error || "" })),
      h("dl", { class: "import-counts" }, STATUSES.map((name) => [
        h("dt", {}, t(`import.status.${name}`)),
        h("dd", { "data-testid": `count-${name}` }, formatNumber(job.counts[name] ?? 0))])),
      h("p", {}, h("a", { href: `/api/v1/imports/${job.id}/report`, download: "", id: "import-report-link" },
        t("import.download_report"))),
      h("table", { class: "data", id: "import-report" },
        h("thead", {}, h("tr", {}, h("th", { class: "num" }, t("import.row")), h("th", {}, t("import.status_label")),
          h("th", {}, t("import.column")), h("th", {}, t("import.reason")))),
        h("tbody", {}, report.items.map((r) => h("tr", { class: `status-${r.status}` },
          h("td", { class: "num" }, r.row),
          h("td", {}, r.id
            ? h("a", { href: `/${job.kind}/${r.id}` }, t(`import.status.${r.status}`))
            : t(`import.status.${r.status}`)),
          h("td", {}, r.column), h("td", {}, r.reason))))),
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", id: "import-again",
        on: { click: () => render(main) } }, t("import.again")))));
  }

  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    state.kind = kind.value;
    status.textContent = "";
    replace(step, h("p", { class: "muted", role: "status" }, t("import.uploading")));
    try {
      showPreview(await upload(file.files[0], state.kind));
    } catch (err) {
      replace(step);
      status.textContent = errorText(err);
    }
  });

  replace(main, h("h1", {}, t("import.title")),
    h("section", { class: "panel", "aria-labelledby": "upload-title" },
      h("h2", { id: "upload-title" }, t("import.upload")),
      h("p", { class: "muted" }, t("import.formats")),
      h("div", { class: "toolbar" },
        h("label", { class: "inline-field" }, h("span", {}, t("import.kind")), kind),
        h("label", { class: "inline-field" }, h("span", {}, t("import.file")), file)),
      status),
    h("div", { style: { marginTop: "1rem" } }, step));
  return () => clearTimeout(state.timer);
}

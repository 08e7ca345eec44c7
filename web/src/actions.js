// Actions: upload a visit (drag and drop or picker) and follow its job live; model jobs
// (update, forecast, plan comparison); downloads of the report and exports.
import { ApiError, download, followJob, getJSON, postJSON, request } from "./api.js";
import { $, clearError, h, option, showError } from "./dom.js";

const MODS = ["t1", "t1ce", "t2", "flair", "seg"];

/** Which form field a file goes to: a zip is a DICOM study; NIfTI files are named by modality. */
export function fieldFor(name) {
  const n = name.toLowerCase();
  if (n.endsWith(".zip")) return "dicom";
  const stem = n.replace(/\.nii(\.gz)?$/, "");
  if (!/\.nii(\.gz)?$/.test(n)) return null;
  for (const m of ["t1ce", "t1gd", "t1c"]) if (stem.endsWith(m) || stem.split(/[_\-.]/).includes(m)) return "t1ce";
  for (const m of ["flair", "t2", "t1", "seg"]) if (stem.endsWith(m) || stem.split(/[_\-.]/).includes(m)) return m;
  return null;
}

let lastJob = null; // shown again after the page reloads its data

function progress(job) {
  lastJob = job;
  const el = $("#job-progress");
  el.hidden = false;
  el.dataset.state = job.status;
  el.dataset.job = job.id;
  const pct = Math.round((job.progress || 0) * 100);
  const text = {
    queued: `${job.kind} job ${job.id}: queued`,
    running: `${job.kind} job ${job.id}: ${pct} % — ${job.message || "running"}`,
    done: `${job.kind} job ${job.id}: done${job.message && job.message !== "done" ? " — " + job.message : ""}`,
    failed: `${job.kind} job ${job.id} failed: ${job.error || job.message || "see the server log"}`,
  }[job.status];
  $("#job-text").textContent = text;
  $("#job-bar").value = job.status === "done" ? 1 : job.progress || 0;
}

async function runJob(start, reload) {
  clearError();
  try {
    const job = await start();
    progress(job);
    const last = await followJob(job.id, progress);
    if (last.status === "done") setTimeout(reload, 600);
    else showError(`The ${last.kind} job failed: ${last.error || last.message}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) showError(`not permitted: ${err.message}`);
    else if (!(err instanceof ApiError && err.status === 401)) showError(err.message);
  }
}

/** Queue forecasts at several horizons (one job each) and follow them to the last. */
export async function queueForecasts(pid, days, reload) {
  let jobs = [];
  await runJob(async () => {
    jobs = [];
    for (const d of days) jobs.push(await postJSON(`patients/${pid}/forecasts`, { days: d }));
    return jobs.at(-1);
  }, reload);
}

export function renderActions(root, my, reload) {
  const canWrite = my.me.role !== "researcher";
  const pid = my.pid;
  const files = [];
  const listEl = h("ul", { id: "upload-files", class: "files" });
  const showFiles = () => {
    listEl.replaceChildren(...files.map((f) => h("li", {}, `${f.name} → ${fieldFor(f.name) || "?"}`)));
  };
  const add = (list) => {
    for (const f of list) if (!files.some((g) => g.name === f.name)) files.push(f);
    showFiles();
  };
  const today = new Date().toISOString().slice(0, 10);
  const upload = h(
    "div",
    { class: "upload" },
    h("h3", {}, "Add a visit"),
    h(
      "div",
      { id: "upload-drop", class: "drop", tabindex: 0 },
      "Drop a DICOM zip or NIfTI files here (t1, t1ce, t2, flair; optional seg), or ",
      h("label", { class: "link" }, "choose files", h("input", { id: "upload-input", type: "file", multiple: true, accept: ".zip,.nii,.gz", class: "visually-hidden" })),
    ),
    listEl,
    h(
      "div",
      { class: "row" },
      h("label", {}, "Visit date (real; stored shifted) ", h("input", { id: "upload-date", type: "date", value: today, required: true })),
      h("label", {}, "Segment ", h("select", { id: "upload-segment" }, option("unet", "U-Net", true), option("classical", "classical"), option("none", "none"))),
      h("label", { class: "check" }, h("input", { id: "upload-update", type: "checkbox", checked: true }), " then update the model"),
      h("button", { id: "upload-submit", type: "button" }, "Upload"),
    ),
  );
  const drop = upload.querySelector("#upload-drop");
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    add(ev.dataTransfer.files);
  });
  upload.querySelector("#upload-input").addEventListener("change", (ev) => add(ev.target.files));
  upload.querySelector("#upload-submit").addEventListener("click", () => {
    const form = new FormData();
    const date = $("#upload-date").value;
    if (!date) return showError("Give the visit date.");
    if (!files.length) return showError("Choose a DICOM zip or NIfTI files first.");
    form.append("date", date);
    form.append("segment", $("#upload-segment").value);
    form.append("update_model", $("#upload-update").checked ? "true" : "false");
    for (const f of files) {
      const field = fieldFor(f.name);
      if (!field) return showError(`Cannot tell the modality of ${f.name}: name it …_t1ce.nii.gz, …_flair.nii.gz, … or give a .zip of DICOM.`);
      form.append(field, f, f.name);
    }
    runJob(async () => (await request(`patients/${pid}/visits`, { method: "POST", body: form })).json(), reload).then(() => {
      files.length = 0;
      showFiles();
    });
  });

  const fcDays = h("input", { id: "forecast-request-days", type: "number", min: 1, max: 3650, value: 90 });
  const planBox = h("div", { id: "plan-choices", class: "choices" });
  const nSamples = h("select", { id: "plan-samples" }, option("16", "16 (quick look)"), option("64", "64", true), option("128", "128"));
  getJSON("plans")
    .then((plans) => planBox.replaceChildren(...plans.map((p, i) => h("label", { class: "check", title: p.reference }, h("input", { type: "checkbox", value: p.name, checked: i < 2 }), ` ${p.title || p.name}`))))
    .catch(() => planBox.replaceChildren("the plan library is unavailable"));
  const model = h(
    "div",
    { class: "model-actions" },
    h("h3", {}, "Model"),
    h("div", { class: "row" }, h("button", { id: "update-button", type: "button", onclick: () => runJob(() => postJSON(`patients/${pid}/update`, {}), reload) }, "Calibrate / update")),
    h(
      "div",
      { class: "row" },
      h("label", {}, "Forecast ", fcDays, " days after the latest visit "),
      h("button", { id: "forecast-button", type: "button", onclick: () => runJob(() => postJSON(`patients/${pid}/forecasts`, { days: Number(fcDays.value) }), reload) }, "Forecast"),
    ),
    h("p", { class: "hint" }, "Compare treatment plans from the library under the twin's posterior:"),
    planBox,
    h(
      "button",
      {
        id: "compare-plans-button",
        type: "button",
        onclick: () => {
          const plans = [...planBox.querySelectorAll("input:checked")].map((i) => i.value);
          if (!plans.length) return showError("Choose at least one plan.");
          runJob(() => postJSON(`patients/${pid}/plans/compare`, { plans, n_samples: Number(nSamples.value) }), reload);
        },
      },
      "Compare plans",
    ),
    h("label", {}, "Posterior samples ", nSamples),
  );
  const latest = my.data.visits.at(-1);
  const downloads = h(
    "div",
    { class: "downloads" },
    h("h3", {}, "Downloads"),
    h("button", { id: "download-report", type: "button", onclick: () => download(`patients/${pid}/report`, `${pid}.html`).catch((e) => showError(e.message)) }, "Report (HTML)"),
    latest ? h("button", { id: "download-export", type: "button", onclick: () => download(`patients/${pid}/visits/${$("#visit-select")?.value || latest.date}/export`, `${pid}_export.zip`).catch((e) => showError(e.message)) }, "Shown visit: segmentation export (zip)") : null,
    latest ? h("button", { id: "download-targets", type: "button", onclick: () => download(`patients/${pid}/targets/export`, `${pid}_targets.zip`).catch((e) => showError(e.message)) }, "Target volumes (zip)") : null,
  );
  const job = h("div", { id: "job-progress", class: "job", hidden: true, "aria-live": "polite" }, h("progress", { id: "job-bar", max: 1, value: 0 }), h("span", { id: "job-text" }));
  root.replaceChildren(h("h2", {}, "Actions"), canWrite ? h("div", { class: "action-grid" }, upload, model, downloads) : h("div", { class: "action-grid" }, h("p", { class: "hint" }, "Read-only access (researcher)."), downloads), job);
  if (lastJob && lastJob.patient_id === pid) progress(lastJob);
  void MODS;
}

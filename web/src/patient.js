// The patient page: viewer (visit × modality, overlays), comparison, forecast, charts, actions.
import { SHOW_RENDER } from "@niivue/niivue";
import { getJSON } from "./api.js";
import { $, fmt, h, option } from "./dom.js";
import { createViewer, makeImage, readout, setLayers, SEG_LEGEND } from "./viewer.js";
import { renderCharts } from "./charts.js";
import { renderActions } from "./actions.js";
import { differenceImage, tumourChange } from "./difference.js";
import { setupForecast } from "./forecast.js";

let state = null; // the page's state; null when no patient page is shown

export function leavePatient() {
  state = null;
}

const MOD_ORDER = ["t1ce", "flair", "t2", "t1"];
const MOD_NAME = { t1: "T1", t1ce: "T1ce", t2: "T2", flair: "FLAIR" };

function volUrl(pid, date, name) {
  return `patients/${pid}/visits/${date}/display/${encodeURIComponent(name)}`;
}

function layout(pid, me) {
  const canWrite = me.role !== "researcher";
  return h(
    "div",
    { class: "patient" },
    h(
      "div",
      { class: "head" },
      h("h1", {}, pid),
      h("span", { id: "model-state", class: "badge" }),
      canWrite ? h("a", { id: "identify-button", class: "button", href: `#/identify/${pid}`, role: "button" }, "Identify…") : null,
    ),
    h(
      "div",
      { class: "workspace" },
      h(
        "aside",
        { class: "controls card" },
        h("label", {}, "Visit ", h("select", { id: "visit-select" })),
        h("label", {}, "Image ", h("select", { id: "modality-select" })),
        h("label", { class: "check" }, h("input", { id: "toggle-seg", type: "checkbox", checked: true }), " Segmentation"),
        h("label", {}, "Opacity ", h("input", { id: "seg-opacity", type: "range", min: 0, max: 1, step: 0.05, value: 0.5 })),
        h("ul", { class: "legend" }, SEG_LEGEND.map(([n, c]) => h("li", {}, h("i", { "data-color": c }), n))),
        h("label", { class: "check" }, h("input", { id: "toggle-mask", type: "checkbox" }), " Brain mask outline"),
        h("label", { class: "check" }, h("input", { id: "toggle-uncertainty", type: "checkbox", disabled: true }), " Segmentation uncertainty"),
        h("label", {}, "Layout ", h("select", { id: "layout-select" }, option("multi", "Multiplanar", true), option("multi3d", "Multiplanar + 3D"), option("axial", "Axial"), option("coronal", "Coronal"), option("sagittal", "Sagittal"), option("render", "3D render"))),
        h("label", { class: "check" }, h("input", { id: "toggle-radiological", type: "checkbox", checked: true }), " Radiological convention (patient's right on screen left)"),
        h("p", { class: "hint" }, "Click or drag in a slice to move the crosshair; scroll to page through slices; right-drag to window."),
      ),
      h(
        "div",
        { class: "views" },
        h(
          "div",
          { id: "viewer", class: "viewer", "data-ready": "false" },
          h("div", { class: "canvas-box" }, h("canvas", { id: "viewer-canvas" })),
          h("div", { id: "readout", class: "readout" }, "—"),
        ),
        h(
          "div",
          { id: "compare", class: "compare card" },
          h("h2", {}, "Compare visits"),
          h(
            "div",
            { class: "row" },
            h("label", {}, "Left (A) ", h("select", { id: "compare-a" })),
            h("label", {}, "Right (B) ", h("select", { id: "compare-b" })),
            h("label", { class: "check" }, h("input", { id: "toggle-diff", type: "checkbox" }), " Difference (later − earlier)"),
          ),
          h("p", { class: "hint" }, "Both visits are on the twin's registered grid: the crosshairs move together."),
          h("div", { class: "canvas-box small" }, h("canvas", { id: "viewer-canvas-b" })),
          h("div", { id: "readout-b", class: "readout" }, ""),
          h("p", { id: "compare-note", class: "hint" }),
        ),
      ),
    ),
    h(
      "section",
      { id: "forecast", class: "card" },
      h("h2", {}, "Forecast"),
      h(
        "div",
        { class: "row" },
        h("label", { class: "check" }, h("input", { id: "toggle-forecast", type: "checkbox" }), " Show on the viewer"),
        h("label", {}, "Days ahead ", h("input", { id: "forecast-days", type: "range", min: 0, max: 0, step: 1, value: 0, list: "forecast-stops" }), h("output", { id: "forecast-days-out" })),
        h("datalist", { id: "forecast-stops" }),
        h("label", {}, "Region ", h("select", { id: "forecast-region" }, option("enhancing", "T1ce-visible tumour (TC)", true), option("flair", "FLAIR-visible tumour (WT)"))),
        h("label", {}, "Credibility ", h("select", { id: "forecast-level" }, option("0.1", "≥ 10 %"), option("0.5", "≥ 50 %", true), option("0.9", "≥ 90 %"))),
      ),
      h("p", {}, "Plan assumed: ", h("strong", { id: "forecast-plan" }, "—"), " ", h("button", { id: "forecast-more", type: "button", hidden: true })),
      h("p", { id: "forecast-info", class: "hint" }),
    ),
    h(
      "section",
      { class: "charts" },
      h("div", { class: "card" }, h("h2", {}, "Measured volumes, forecast and treatment"), h("div", { id: "chart-volumes", class: "chart" })),
      h("div", { class: "card" }, h("h2", {}, "RANO-style response per visit"), h("div", { id: "chart-rano", class: "chart" })),
      h("div", { class: "card" }, h("h2", {}, "Growth parameters (posterior)"), h("div", { id: "chart-posterior", class: "chart" })),
      h("div", { class: "card" }, h("h2", {}, "Plan comparison"), h("div", { id: "chart-plans", class: "chart" })),
    ),
    h("section", { id: "actions", class: "card" }),
  );
}

function fillVisits(sel, visits, value) {
  sel.replaceChildren(...visits.map((v) => option(v.date, `${v.date}${v.synthetic ? " (synthetic)" : ""}`, v.date === value)));
}

function fillModalities(visit, preferred) {
  const sel = $("#modality-select");
  const mods = MOD_ORDER.filter((m) => visit.volumes.includes(m));
  const pick = mods.includes(preferred) ? preferred : mods[0];
  sel.replaceChildren(...mods.map((m) => option(m, MOD_NAME[m], m === pick)));
  $("#toggle-uncertainty").disabled = !visit.volumes.includes("extra:uncertainty");
  return pick;
}

async function layersFor(pid, visit, modality, opts) {
  const imgs = [makeImage(volUrl(pid, visit.date, modality), modality)];
  if (visit.volumes.includes("segmentation")) {
    imgs.push(makeImage(volUrl(pid, visit.date, "segmentation"), "segmentation", { label: true, opacity: opts.segOn ? opts.segOpacity : 0 }));
  }
  if (opts.mask && visit.volumes.includes("brain_mask")) {
    imgs.push(makeImage(volUrl(pid, visit.date, "brain_mask"), "brain_mask", { colormap: "blue", opacity: 0.25, cal_min: 0.5, cal_max: 1 }));
  }
  if (opts.uncertainty && visit.volumes.includes("extra:uncertainty")) {
    imgs.push(makeImage(volUrl(pid, visit.date, "extra:uncertainty"), "uncertainty", { colormap: "plasma", opacity: 0.7, cal_min: 0.05, cal_max: 1 }));
  }
  if (opts.forecast) imgs.push(opts.forecast());
  return Promise.all(imgs);
}

export async function renderPatient(root, pid, me) {
  const my = { pid, me };
  state = my;
  root.replaceChildren(h("p", { class: "hint" }, "Loading…"));
  const data = await getJSON(`patients/${pid}/viewer`);
  if (state !== my) return;
  my.data = data;
  root.replaceChildren(layout(pid, me));
  for (const i of root.querySelectorAll(".legend i")) i.style.background = i.dataset.color;
  const badge = $("#model-state");
  badge.textContent = data.model.stale ? `model needs update: ${data.model.reason || "stale"}` : "model up to date";
  badge.className = `badge ${data.model.stale ? "warn" : "ok"}`;

  const visits = data.visits;
  my.reload = () => renderPatient(root, pid, me);
  window.braintwinPage = my; // for debugging and the browser tests (no secrets in it)
  renderActions($("#actions"), my, my.reload);
  renderCharts(data);
  if (!visits.length) {
    $("#viewer").dataset.ready = "true";
    $("#readout").textContent = "No visits yet: upload one below.";
    return;
  }
  const latest = visits[visits.length - 1];
  my.visit = latest;
  my.modality = fillModalities(latest, "t1ce");
  fillVisits($("#visit-select"), visits, latest.date);
  fillVisits($("#compare-a"), visits, latest.date);
  fillVisits($("#compare-b"), visits, (visits.length > 1 ? visits[visits.length - 2] : latest).date);

  my.nv = createViewer($("#viewer-canvas"), (loc) => ($("#readout").textContent = readout(loc)));
  const redraw = async () => {
    const opts = {
      segOn: $("#toggle-seg").checked,
      segOpacity: Number($("#seg-opacity").value),
      mask: $("#toggle-mask").checked,
      uncertainty: $("#toggle-uncertainty").checked,
      forecast: my.forecastLayer,
    };
    performance.mark("bt-fetch-start");
    const imgs = await layersFor(pid, my.visit, my.modality, opts);
    performance.mark("bt-decoded");
    if (state !== my) return;
    setLayers(my.nv, imgs);
    performance.mark("bt-layers");
    my.segIndex = imgs.findIndex((i) => i.name === "segmentation.nii");
    $("#viewer").dataset.ready = "true";
    document.body.dataset.ready = "true";
    if (my.compareOn) await redrawB();
  };
  my.redraw = redraw;
  $("#visit-select").onchange = async (ev) => {
    my.visit = visits.find((v) => v.date === ev.target.value);
    my.modality = fillModalities(my.visit, my.modality);
    $("#compare-a").value = my.visit.date;
    await redraw();
  };
  $("#compare-a").onchange = (ev) => {
    $("#visit-select").value = ev.target.value;
    $("#visit-select").dispatchEvent(new Event("change"));
  };
  $("#modality-select").onchange = async (ev) => {
    my.modality = ev.target.value;
    await redraw();
  };
  const segOpacity = () => {
    if (my.segIndex > 0) {
      my.nv.setOpacity(my.segIndex, $("#toggle-seg").checked ? Number($("#seg-opacity").value) : 0);
    }
  };
  $("#toggle-seg").onchange = segOpacity;
  $("#seg-opacity").oninput = segOpacity;
  $("#toggle-mask").onchange = redraw;
  $("#toggle-uncertainty").onchange = redraw;
  $("#toggle-radiological").onchange = (ev) => {
    for (const nv of [my.nv, my.nvB]) if (nv) nv.setRadiologicalConvention(ev.target.checked);
  };
  $("#layout-select").onchange = (ev) => {
    const t = { multi: 3, multi3d: 3, axial: 0, coronal: 1, sagittal: 2, render: 4 }[ev.target.value];
    for (const nv of [my.nv, my.nvB]) {
      if (!nv) continue;
      nv.opts.multiplanarShowRender = ev.target.value === "multi3d" ? SHOW_RENDER.ALWAYS : SHOW_RENDER.NEVER;
      nv.setSliceType(t);
    }
  };

  // comparison: a second viewer on visit B, crosshairs broadcast both ways
  const redrawB = async () => {
    my.compareOn = true;
    if (!my.nvB) {
      my.nvB = createViewer($("#viewer-canvas-b"), (loc) => ($("#readout-b").textContent = readout(loc)));
      my.nv.broadcastTo(my.nvB, { "2d": true, "3d": true });
      my.nvB.broadcastTo(my.nv, { "2d": true, "3d": true });
    }
    const vb = visits.find((v) => v.date === $("#compare-b").value) || latest;
    const mod = vb.volumes.includes(my.modality) ? my.modality : MOD_ORDER.find((m) => vb.volumes.includes(m));
    const opts = { segOn: $("#toggle-seg").checked, segOpacity: Number($("#seg-opacity").value) };
    let imgs;
    if ($("#toggle-diff").checked && my.visit.volumes.includes(mod)) {
      // later − earlier, on the later visit's image, whichever side each is on
      const [early, late] = vb.date < my.visit.date ? [vb, my.visit] : [my.visit, vb];
      const [a, b] = await Promise.all([makeImage(volUrl(pid, early.date, mod), mod), makeImage(volUrl(pid, late.date, mod), mod)]);
      const [diff, maxAbs] = differenceImage(b, a);
      imgs = [b, diff];
      let change = "";
      if (early.volumes.includes("segmentation") && late.volumes.includes("segmentation")) {
        const [sa, sb] = await Promise.all([makeImage(volUrl(pid, early.date, "segmentation"), "segmentation"), makeImage(volUrl(pid, late.date, "segmentation"), "segmentation")]);
        const [img, n] = tumourChange(sb, sa);
        imgs.push(img);
        const ml = (k) => fmt((k * (b.hdr.pixDims[1] * b.hdr.pixDims[2] * b.hdr.pixDims[3])) / 1000);
        change = ` Tumour change: red = new (${ml(n.grew)} mL), cyan = no longer tumour (${ml(n.shrank)} mL).`;
      }
      $("#compare-note").textContent =
        `Difference ${MOD_NAME[mod]} ${late.date} − ${early.date}: warm = brighter later, cool = darker` +
        (maxAbs === 0 ? " (the two images are identical, e.g. a synthetic follow-up that only changes the tumour)." : ".") +
        change;
    } else {
      imgs = await layersFor(pid, vb, mod, opts);
      $("#compare-note").textContent = "";
    }
    if (state !== my) return;
    setLayers(my.nvB, imgs);
  };
  $("#compare-b").onchange = redrawB;
  $("#toggle-diff").onchange = redrawB;

  await redraw();
  setupForecast(my, data);
  // the comparison view loads once the main view is up and the page is idle: its GPU upload
  // would otherwise delay the first interactive moment
  if (visits.length > 1) {
    const later = () => state === my && !my.nvB && redrawB();
    if (window.requestIdleCallback) requestIdleCallback(later, { timeout: 1500 });
    else setTimeout(later, 300);
  }
}

export function fmtMl(x) {
  return `${fmt(x)} mL`;
}

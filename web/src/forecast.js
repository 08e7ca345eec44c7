// Forecast overlay: probability maps of the stored forecasts, a days-ahead slider stepping
// through their horizons, a credibility level, and the plan each forecast assumed.
import { $, fmt, h } from "./dom.js";
import { makeImage } from "./viewer.js";
import { queueForecasts } from "./actions.js";

const STANDARD_HORIZONS = [30, 60, 90, 180, 365];

/** Forecasts from the twin's latest start, one per horizon (the newest), by days ahead. */
export function horizons(forecasts) {
  if (!forecasts.length) return [];
  const start = forecasts.map((f) => f.start).sort().at(-1);
  const byDays = new Map();
  for (const f of forecasts.filter((f) => f.start === start)) {
    const old = byDays.get(f.days_ahead);
    if (!old || f.id > old.id) byDays.set(f.days_ahead, f);
  }
  return [...byDays.values()].sort((a, b) => a.days_ahead - b.days_ahead);
}

const REGION_LABELS = { enhancing: [1, 4], flair: [1, 2, 4] }; // TC and WT in BraTS labels

/** Day 0 of the slider: the tumour observed at the forecasts' start visit (probability 1
 * inside the region of its segmentation), so the slider always shows growth from it. */
async function observedLayer(my, start, region) {
  const img = await makeImage(`patients/${my.pid}/visits/${start}/display/segmentation`, "forecast", { colormap: "hot", opacity: 0.75, cal_min: 0, cal_max: 1 });
  const keep = new Set(REGION_LABELS[region]);
  const out = new Uint8Array(img.img.length);
  for (let i = 0; i < out.length; i++) out[i] = keep.has(img.img[i]) ? 1 : 0;
  img.img = out;
  return img;
}

function moreButton(my, stored) {
  const have = new Set(stored.map((f) => f.days_ahead));
  const missing = STANDARD_HORIZONS.filter((d) => !have.has(d)).slice(0, 3);
  const btn = $("#forecast-more");
  btn.hidden = my.me.role === "researcher" || !missing.length;
  btn.textContent = `More horizons (${missing.join(", ")} days)`;
  btn.onclick = () => queueForecasts(my.pid, missing, my.reload);
}

export function setupForecast(my, data) {
  const stored = horizons(data.forecasts);
  moreButton(my, stored);
  const startVisit = stored.length ? data.visits.find((v) => v.date === stored[0].start) : null;
  const day0 =
    startVisit && startVisit.volumes.includes("segmentation")
      ? [{ ...stored[0], id: null, days_ahead: 0, date: stored[0].start, observed: true }]
      : [];
  const stops = [...day0, ...stored];
  const slider = $("#forecast-days");
  const info = $("#forecast-info");
  if (!stops.length) {
    slider.disabled = true;
    $("#toggle-forecast").disabled = true;
    $("#forecast-plan").textContent = data.treatment ? data.treatment.summary : "— (no forecast yet)";
    info.textContent = "No forecast stored yet: use “Forecast” below (a job).";
    return;
  }
  slider.min = stops[0].days_ahead;
  slider.max = stops.at(-1).days_ahead;
  slider.step = 1;
  slider.value = stops.at(-1).days_ahead;
  slider.disabled = stops.length < 1;
  $("#forecast-stops").replaceChildren(...stops.map((f) => h("option", { value: f.days_ahead })));

  const nearest = () => {
    const v = Number(slider.value);
    return stops.reduce((best, f) => (Math.abs(f.days_ahead - v) < Math.abs(best.days_ahead - v) ? f : best));
  };
  const describe = (f) => {
    $("#forecast-days-out").textContent = ` ${f.days_ahead} d (${f.date})`;
    $("#forecast-plan").textContent = f.plan.summary;
    const level = Number($("#forecast-level").value);
    const what = f.observed
      ? `Day 0: the tumour segmented at the visit of ${f.start} (observed, not forecast).`
      : `From the visit of ${f.start}, ${f.n_samples} posterior samples (${f.source}); ` +
        `shown: voxels where the tumour is present in ≥ ${Math.round(level * 100)} % of them.`;
    info.textContent =
      `${what} Stored horizons: ${stored.map((s) => s.days_ahead).join(", ")} days` +
      (stored.length < 3 ? " — add more with “More horizons”." : ".");
  };
  const update = async (turnOn) => {
    const f = nearest();
    slider.value = f.days_ahead;
    describe(f);
    if (turnOn) $("#toggle-forecast").checked = true;
    if (!$("#toggle-forecast").checked) {
      my.forecastLayer = null;
    } else {
      const region = $("#forecast-region").value;
      const name = f.volumes.includes(`probability_${region}`) ? `probability_${region}` : f.volumes.find((v) => v.startsWith("probability_"));
      const level = Number($("#forecast-level").value);
      my.forecastLayer = f.observed
        ? () => observedLayer(my, f.start, region)
        : () => makeImage(`patients/${my.pid}/forecasts/${f.id}/display/${name}`, "forecast", { colormap: "hot", cal_min: level, cal_max: 1, opacity: 0.75 });
    }
    await my.redraw();
  };
  slider.oninput = () => describe(nearest());
  slider.onchange = () => update(true);
  $("#forecast-level").onchange = () => update(false);
  $("#forecast-region").onchange = () => update(false);
  $("#toggle-forecast").onchange = () => update(false);
  describe(nearest());
  void fmt;
}

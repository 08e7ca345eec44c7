// Forecast overlay: probability maps of the stored forecasts, a days-ahead slider stepping
// through their horizons, a credibility level, and the plan each forecast assumed.
import { $, fmt, h } from "./dom.js";
import { makeImage } from "./viewer.js";

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

export function setupForecast(my, data) {
  const stops = horizons(data.forecasts);
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
  slider.value = stops[0].days_ahead;
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
    info.textContent =
      `From the visit of ${f.start}, ${f.n_samples} posterior samples (${f.source}); ` +
      `shown: voxels where the tumour is present in ≥ ${Math.round(level * 100)} % of them. ` +
      `${stops.length} stored horizon${stops.length > 1 ? "s" : ""}: ${stops.map((s) => s.days_ahead).join(", ")} days` +
      (stops.length < 2 ? " — request more with “Forecast” below." : ".");
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
      my.forecastLayer = () =>
        makeImage(`patients/${my.pid}/forecasts/${f.id}/display/${name}`, "forecast", { colormap: "hot", cal_min: level, cal_max: 1, opacity: 0.75 });
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

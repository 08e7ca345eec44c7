// Charts as small hand-written SVG (no chart library: four simple plots do not need ~300 KB
// of d3/Plot, and plain SVG keeps every element addressable for tests and print).
import { $, fmt } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const COLORS = { WT: "#e6b800", TC: "#3d7bff", ET: "#ff3b3b" };
const REGION_OF = { enhancing: "TC", flair: "WT" };
const DAY = 86400000;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function scale(d0, d1, r0, r1) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (x) => r0 + (x - d0) * k;
}

function niceTicks(lo, hi, n = 5) {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= step0) || mag * 10;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Number(t.toPrecision(10)));
  return out;
}

function frame(w, h, label) {
  return s("svg", { viewBox: `0 0 ${w} ${h}`, width: "100%", role: "img", "aria-label": label, class: "plot" });
}

function empty(el, text) {
  el.replaceChildren(Object.assign(document.createElement("p"), { className: "hint", textContent: text }));
}

const date = (iso) => new Date(`${iso}T00:00:00Z`).getTime();
const iso = (t) => new Date(t).toISOString().slice(0, 10);

function axes(svg, x, y, xt, yt, box, xfmt, ylabel) {
  const [L, T, R, B] = box;
  svg.append(s("line", { x1: L, x2: R, y1: B, y2: B, stroke: "#888" }), s("line", { x1: L, x2: L, y1: T, y2: B, stroke: "#888" }));
  for (const t of xt) svg.append(s("line", { x1: x(t), x2: x(t), y1: B, y2: B + 4, stroke: "#888" }), s("text", { x: x(t), y: B + 16, "text-anchor": "middle", class: "tick" }, xfmt(t)));
  for (const t of yt) svg.append(s("line", { x1: L - 4, x2: R, y1: y(t), y2: y(t), stroke: "#8884" }), s("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end", class: "tick" }, fmt(t)));
  svg.append(s("text", { x: L, y: T - 6, class: "axis" }, ylabel));
}

/** Measured volume per region across visits, forecast bands (50 %, 90 %), treatment timeline. */
export function volumesChart(el, data) {
  const pts = [];
  for (const v of data.visits) for (const r of ["WT", "TC", "ET"]) {
    const m = v.measurements?.[r];
    if (m && m.volume_ml !== null && m.volume_ml !== undefined) pts.push({ t: date(v.date), r, ml: m.volume_ml, date: v.date });
  }
  if (!pts.length) return empty(el, "No measured visit yet.");
  const fc = data.forecasts.length ? data.forecasts.reduce((a, b) => (b.id > a.id ? b : a)) : null;
  const bands = [];
  if (fc) for (const [comp, q] of Object.entries(fc.bands || {})) {
    const r = REGION_OF[comp];
    if (!r || !q.q50) continue;
    const t0 = date(fc.start);
    bands.push({ r, q, ts: fc.days.map((d) => t0 + d * DAY) });
  }
  const tr = data.treatment;
  const ts = [...pts.map((p) => p.t), ...bands.flatMap((b) => b.ts)];
  if (tr) ts.push(...tr.fractions.map((f) => date(f.date)), ...tr.chemo.flatMap((c) => [date(c.start), date(c.end)]));
  let t0 = Math.min(...ts), t1 = Math.max(...ts);
  if (t1 - t0 < 30 * DAY) { t0 -= 15 * DAY; t1 += 15 * DAY; }
  // The axis follows the measurements: an untreated forecast's 90 % band can reach hundreds
  // of mL and would flatten a 1-2 mL tumour onto the axis. Bands are clipped and say so.
  const mmax = Math.max(...pts.map((p) => p.ml));
  const fmax = Math.max(0, ...bands.flatMap((b) => b.q.q95 || b.q.q50));
  const clipped = fmax > 4 * mmax && mmax > 0;
  const vmax = (clipped ? 4 * mmax : Math.max(mmax, fmax)) * 1.1 || 1;
  const W = 720, H = 330, box = [56, 24, 700, 250];
  const x = scale(t0, t1, box[0], box[2]), y = scale(0, vmax, box[3], box[1]);
  const svg = frame(W, H, "measured tumour volumes per region across visits");
  const xt = niceTicks(0, (t1 - t0) / DAY, 6).map((d) => t0 + d * DAY);
  axes(svg, x, y, xt, niceTicks(0, vmax), box, (t) => iso(t), "volume (mL)");
  const clipId = `vclip-${Math.random().toString(36).slice(2)}`;
  svg.append(s("clipPath", { id: clipId }, s("rect", { x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1] })));
  const bandLayer = s("g", { "clip-path": `url(#${clipId})` });
  svg.append(bandLayer);
  for (const b of bands) {
    const area = (lo, hi) => b.ts.map((t, i) => `${x(t)},${y(hi[i])}`).join(" ") + " " + b.ts.map((t, i) => `${x(t)},${y(lo[i])}`).reverse().join(" ");
    if (b.q.q05 && b.q.q95) bandLayer.append(s("polygon", { points: area(b.q.q05, b.q.q95), fill: COLORS[b.r], "fill-opacity": 0.12, class: "band", "data-region": b.r }));
    if (b.q.q25 && b.q.q75) bandLayer.append(s("polygon", { points: area(b.q.q25, b.q.q75), fill: COLORS[b.r], "fill-opacity": 0.22, class: "band", "data-region": b.r }));
    bandLayer.append(s("polyline", { points: b.ts.map((t, i) => `${x(t)},${y(b.q.q50[i])}`).join(" "), fill: "none", stroke: COLORS[b.r], "stroke-dasharray": "5 4" }));
  }
  for (const r of ["WT", "TC", "ET"]) {
    const rp = pts.filter((p) => p.r === r).sort((a, b) => a.t - b.t);
    if (rp.length > 1) svg.append(s("polyline", { points: rp.map((p) => `${x(p.t)},${y(p.ml)}`).join(" "), fill: "none", stroke: COLORS[r], "stroke-width": 2 }));
    for (const p of rp) svg.append(s("circle", { cx: x(p.t), cy: y(p.ml), r: 5, fill: COLORS[r], class: "visit-point", "data-region": r, "data-date": p.date }, s("title", {}, `${r} ${p.date}: ${fmt(p.ml)} mL`)));
  }
  // treatment timeline under the axis
  const ty = box[3] + 34;
  svg.append(s("text", { x: 4, y: ty + 4, class: "tick" }, "RT"), s("text", { x: 4, y: ty + 22, class: "tick" }, "TMZ"));
  if (tr) {
    for (const f of tr.fractions) svg.append(s("line", { x1: x(date(f.date)), x2: x(date(f.date)), y1: ty - 5, y2: ty + 5, stroke: "#c0f", class: "rt-fraction" }, s("title", {}, `${f.date}: ${fmt(f.dose_gy)} Gy`)));
    for (const c of tr.chemo) svg.append(s("rect", { x: x(date(c.start)), y: ty + 14, width: Math.max(2, x(date(c.end)) - x(date(c.start))), height: 10, fill: "#0a8", class: "tmz-course" }, s("title", {}, `${c.drug} ${c.start} – ${c.end}`)));
  } else svg.append(s("text", { x: box[0], y: ty + 4, class: "tick" }, "no treatment plan stored (untreated growth assumed)"));
  const legend = s("g", { transform: `translate(${box[0] + 10},${box[1] + 4})` });
  ["WT", "TC", "ET"].forEach((r, i) => legend.append(s("circle", { cx: i * 70, cy: 0, r: 5, fill: COLORS[r] }), s("text", { x: i * 70 + 9, y: 4, class: "tick" }, r)));
  if (bands.length) legend.append(s("text", { x: 220, y: 4, class: "tick" }, `dashed: forecast median, bands 50 %/90 % (plan ${fc.plan.name})`));
  if (clipped) legend.append(s("text", { x: 0, y: 20, class: "tick" }, `forecast clipped at the top of the axis: its 90 % band reaches ${fmt(fmax)} mL`));
  svg.append(legend);
  el.replaceChildren(svg);
}

const RANO_COLOR = { CR: "#0a8", PR: "#3d7bff", SD: "#999", PD: "#ff3b3b", NE: "#666", baseline: "#555" };

export function ranoChart(el, data) {
  const measured = data.visits.filter((v) => v.measurements && Object.keys(v.measurements).length);
  if (measured.length < 2) return empty(el, "Response needs two measured visits.");
  const rows = measured.map((v, i) => (v.rano ? v : { ...v, rano: { category: i === 0 ? "baseline" : "NE", reasons: [] } }));
  const table = document.createElement("table");
  table.className = "grid rano";
  table.innerHTML = "<thead><tr><th>Visit</th><th>Response</th><th>vs</th><th>SPD change</th><th>WT change</th></tr></thead>";
  const body = document.createElement("tbody");
  for (const v of rows) {
    const r = v.rano;
    const tr = document.createElement("tr");
    tr.dataset.date = v.date;
    const cells = [v.date + (v.synthetic ? " (synthetic)" : ""), r.category, r.compared_with || "–", r.spd_change_percent == null ? "–" : `${fmt(r.spd_change_percent, 2)} %`, r.wt_change_percent == null ? "–" : `${fmt(r.wt_change_percent, 2)} %`];
    for (const c of cells) tr.append(Object.assign(document.createElement("td"), { textContent: c }));
    tr.children[1].className = `rano-${r.category}`;
    tr.title = (r.reasons || []).join("; ");
    body.append(tr);
  }
  table.append(body);
  el.replaceChildren(table);
  void RANO_COLOR;
}

export function posteriorChart(el, data) {
  const p = data.posterior;
  if (!p) return empty(el, "No calibrated model yet: run “Calibrate / update”.");
  const names = Object.keys(p.histograms);
  const W = 720, H = 170;
  const svg = frame(W, H * Math.ceil(names.length / 2), "posterior histograms of the growth parameters");
  names.forEach((n, i) => {
    const hist = p.histograms[n];
    const ox = (i % 2) * 360, oy = Math.floor(i / 2) * H;
    const box = [ox + 40, oy + 28, ox + 340, oy + 130];
    const lx = hist.edges.map(Math.log10);
    const x = scale(lx[0], lx.at(-1), box[0], box[2]);
    const cmax = Math.max(...hist.counts) || 1;
    const y = scale(0, cmax, box[3], box[1]);
    const g = s("g", { class: "hist", "data-param": n });
    hist.counts.forEach((c, j) => g.append(s("rect", { x: x(lx[j]), y: y(c), width: Math.max(1, x(lx[j + 1]) - x(lx[j]) - 1), height: box[3] - y(c), fill: "#3d7bff" })));
    const sm = p.summary[n];
    if (sm) {
      const [a, b] = sm.interval_90;
      g.append(s("line", { x1: x(Math.log10(sm.median)), x2: x(Math.log10(sm.median)), y1: box[1], y2: box[3], stroke: "#ff3b3b" }));
      g.append(s("text", { x: box[0], y: oy + 16, class: "axis" }, `${n}: median ${fmt(sm.median)} ${sm.unit}, 90 % [${fmt(a)}, ${fmt(b)}]`));
    }
    for (const t of [lx[0], (lx[0] + lx.at(-1)) / 2, lx.at(-1)]) g.append(s("text", { x: x(t), y: box[3] + 14, "text-anchor": "middle", class: "tick" }, fmt(10 ** t, 2)));
    g.append(s("line", { x1: box[0], x2: box[2], y1: box[3], y2: box[3], stroke: "#888" }));
    svg.append(g);
  });
  const note = s("text", { x: 40, y: H * Math.ceil(names.length / 2) - 8, class: "tick" }, `${p.source === "prior" ? "one visit only: this is the prior" : "fitted to " + p.visit_dates.length + " visits"} (log axis)`);
  svg.append(note);
  el.replaceChildren(svg);
}

const PLAN_COLORS = ["#3d7bff", "#ff3b3b", "#0a8", "#e6b800", "#c0f", "#f80"];

export function plansChart(el, data) {
  const cmp = data.plans.filter((p) => p.kind === "plan_comparison").at(-1);
  if (!cmp) return empty(el, "No plan comparison stored: choose plans under Actions and run “Compare plans”.");
  const W = 720, H = 280, box = [56, 24, 480, 250];
  const names = Object.keys(cmp.pfs);
  const tmax = cmp.horizon_days || Math.max(...names.flatMap((n) => cmp.pfs[n].days));
  const x = scale(0, tmax, box[0], box[2]), y = scale(0, 1, box[3], box[1]);
  const svg = frame(W, H, "progression-free probability per plan");
  axes(svg, x, y, niceTicks(0, tmax, 6), [0, 0.25, 0.5, 0.75, 1], box, (t) => `${t} d`, "progression-free probability");
  names.forEach((n, i) => {
    const c = cmp.pfs[n];
    const pts = c.days.flatMap((d, j) => (j ? [`${x(d)},${y(c.p[j - 1])}`, `${x(d)},${y(c.p[j])}`] : [`${x(d)},${y(c.p[j])}`]));
    svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: PLAN_COLORS[i % 6], "stroke-width": 2, class: "pfs-curve", "data-plan": n }));
  });
  cmp.plans.forEach((p, i) => {
    const yy = box[1] + i * 44;
    svg.append(s("rect", { x: 496, y: yy, width: 12, height: 12, fill: PLAN_COLORS[i % 6] }));
    svg.append(s("text", { x: 514, y: yy + 10, class: "axis" }, p.name));
    const ttp = p.ttp_median_days == null ? `> ${fmt(tmax)} d` : `${fmt(p.ttp_median_days)} d`;
    svg.append(s("text", { x: 514, y: yy + 26, class: "tick" }, `median TTP ${ttp}; PFS 6 mo ${fmt(p.p_pfs_6m * 100, 2)} %`));
  });
  const note = document.createElement("p");
  note.className = "hint";
  note.textContent = `From ${cmp.start}, ${cmp.n_samples} posterior samples, horizon ${fmt(tmax)} days. Progression: ${cmp.definition || "see docs/plans.md"}.`;
  el.replaceChildren(svg, note);
}

export function renderCharts(data) {
  volumesChart($("#chart-volumes"), data);
  ranoChart($("#chart-rano"), data);
  posteriorChart($("#chart-posterior"), data);
  plansChart($("#chart-plans"), data);
}

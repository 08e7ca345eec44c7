// NiiVue views: one background volume (a visit's modality) plus overlays (segmentation with a
// label colour map, brain mask, uncertainty, forecast probability, difference map).
import { Niivue, NVImage, SHOW_RENDER, SLICE_TYPE } from "@niivue/niivue";
import { getBuffer } from "./api.js";

// BraTS labels (braintwin.types.labels): 1 necrosis/non-enhancing core, 2 edema, 4 enhancing
export const SEG_LUT = {
  R: [0, 70, 255, 0, 255],
  G: [0, 120, 215, 0, 40],
  B: [0, 255, 0, 0, 40],
  A: [0, 255, 255, 0, 255],
  I: [0, 1, 2, 3, 4],
  labels: ["", "necrosis", "edema", "", "enhancing"],
};
export const SEG_LEGEND = [
  ["necrosis / non-enhancing core", "rgb(70,120,255)"],
  ["edema", "rgb(255,215,0)"],
  ["enhancing", "rgb(255,40,40)"],
];

const buffers = new Map(); // url -> Promise<ArrayBuffer> (the HTTP cache revalidates with ETags)
export function fetchVolume(url) {
  if (!buffers.has(url)) {
    const p = getBuffer(url);
    p.catch(() => buffers.delete(url));
    buffers.set(url, p);
  }
  return buffers.get(url);
}
export function forgetVolumes() {
  buffers.clear();
}

export async function makeImage(url, name, opts = {}) {
  const buf = await fetchVolume(url);
  // a copy: NiiVue may keep or transfer the buffer, the cache keeps its own
  const img = await NVImage.loadFromUrl({
    url: `${name}.nii`,
    name: `${name}.nii`,
    buffer: buf.slice(0),
    colormap: opts.colormap || "gray",
    opacity: opts.opacity ?? 1,
    cal_min: opts.cal_min ?? NaN,
    cal_max: opts.cal_max ?? NaN,
    ignoreZeroVoxels: opts.ignoreZeroVoxels ?? false,
  });
  if (opts.label) img.setColormapLabel(SEG_LUT);
  if (opts.colormapNegative) img.colormapNegative = opts.colormapNegative;
  return img;
}

export function createViewer(canvas, onLocation) {
  // radiological convention by default (patient's right on screen left), as at a tumour board
  const nv = new Niivue({
    backColor: [0.04, 0.05, 0.08, 1],
    crosshairColor: [0.1, 0.9, 0.3, 0.9],
    show3Dcrosshair: true,
    isRuler: true,
    isOrientationTextVisible: true,
    showAllOrientationMarkers: true,
    isRadiologicalConvention: true,
    heroImageFraction: 0.5,
    heroSliceType: SLICE_TYPE.AXIAL,
    multiplanarShowRender: SHOW_RENDER.NEVER,
    dragAndDropEnabled: false,
    loadingText: "",
    isColorbar: false,
    logLevel: "error",
  });
  nv.attachToCanvas(canvas);
  nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
  if (onLocation) nv.onLocationChange = () => onLocation(nv);
  return nv;
}

/** Replace every layer of `nv` by `images` (background first) with one GPU upload:
 * NiiVue's addVolume/removeVolume re-upload every layer on each call (quadratic). */
export function setLayers(nv, images) {
  nv.volumes = [...images];
  nv.back = images[0] || null;
  nv.overlays = images.slice(1);
  nv.updateGLVolume();
  if (nv.onLocationChange) nv.onLocationChange();
}

const NAMES = { t1: "T1", t1ce: "T1ce", t2: "T2", flair: "FLAIR", segmentation: "label", brain_mask: "brain", uncertainty: "uncertainty", forecast: "P(tumour)", difference: "B − A" };

/** The crosshair read-out: position in mm (RAS, the twin's registered space), voxel, and each
 * layer's value in its real units (labels by name; the background of z-scored images, stored
 * below the window, as "outside"). */
export function readout(nv) {
  if (!nv || !nv.volumes.length) return "";
  const mm = nv.frac2mm(nv.scene.crosshairPos, 0, true);
  const vox = nv.volumes[0].mm2vox(mm);
  const parts = nv.volumes.map((vol) => {
    const name = String(vol.name || "").replace(/\.nii$/, "");
    const label = NAMES[name] || name;
    const v = nv.volumes.length ? vol.getValue(...vol.mm2vox(mm)) : NaN;
    const slope = vol.hdr.scl_slope || 1;
    if (name === "segmentation") return `${label}: ${SEG_LUT.labels[Math.round(v)] || "none"}`;
    if (name === "change") return `${label}: ${["none", "new tumour", "no longer tumour"][Math.round(v)] || "none"}`;
    if (vol.hdr.datatypeCode === 4 && v <= -32767.5 * slope) return `${label}: outside the brain`;
    return `${label}: ${Number.isFinite(v) ? Number(v.toPrecision(4)) : "–"}`;
  });
  const f = (x) => x.toFixed(1);
  return `${f(mm[0])}, ${f(mm[1])}, ${f(mm[2])} mm (RAS) · voxel ${Array.from(vox).join(", ")} · ${parts.join(" · ")}`;
}

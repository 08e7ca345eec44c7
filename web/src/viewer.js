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
  const nv = new Niivue({
    backColor: [0.04, 0.05, 0.08, 1],
    crosshairColor: [0.1, 0.9, 0.3, 0.9],
    show3Dcrosshair: true,
    isRuler: true,
    isOrientationTextVisible: true,
    showAllOrientationMarkers: true,
    isRadiologicalConvention: false,
    multiplanarShowRender: SHOW_RENDER.NEVER,
    dragAndDropEnabled: false,
    loadingText: "",
    isColorbar: false,
    logLevel: "error",
  });
  nv.attachToCanvas(canvas);
  nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
  if (onLocation) nv.onLocationChange = onLocation;
  return nv;
}

/** Replace every layer of `nv` by `images` (background first) with one GPU upload:
 * NiiVue's addVolume/removeVolume re-upload every layer on each call (quadratic). */
export function setLayers(nv, images) {
  nv.volumes = [...images];
  nv.back = images[0] || null;
  nv.overlays = images.slice(1);
  nv.updateGLVolume();
}

export function readout(loc) {
  if (!loc || !loc.mm) return "";
  const mm = Array.from(loc.mm).slice(0, 3).map((v) => v.toFixed(1));
  const vals = (loc.values || [])
    .map((v) => {
      const name = String(v.name || "").replace(/\.nii$/, "");
      let value = typeof v.value === "number" ? Number(v.value.toPrecision(4)) : v.value;
      if (name === "segmentation") value = SEG_LUT.labels[v.value] || "background";
      return `${name}: ${value}`;
    })
    .join(" · ");
  return `x ${mm[0]}, y ${mm[1]}, z ${mm[2]} mm (RAS)${vals ? " — " + vals : ""}`;
}

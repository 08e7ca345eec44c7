// Differences of two visits on the twin's shared registered grid: image intensity (real
// units) and tumour change (voxels that became or stopped being tumour).

function real(img) {
  const s = img.hdr.scl_slope || 1;
  const b = img.hdr.scl_inter || 0;
  // the background of z-scored images is stored at -32768 (braintwin.web.display.OUTSIDE)
  const outside = img.hdr.datatypeCode === 4;
  return (i) => (outside && img.img[i] === -32768 ? 0 : img.img[i] * s + b);
}

function asFloat(img, data, name) {
  const out = img.clone();
  out.img = data;
  out.hdr.datatypeCode = 16;
  out.hdr.numBitsPerVoxel = 32;
  out.hdr.scl_slope = 1;
  out.hdr.scl_inter = 0;
  out.name = name;
  return out;
}

/** later − earlier (float32) with a diverging colour map; `later` is the grid reference.
 * Returns [image, largest |difference|]. */
export function differenceImage(later, earlier) {
  const n = later.img.length;
  if (earlier.img.length !== n) throw new Error("the two visits are not on the same grid");
  const ra = real(earlier);
  const rb = real(later);
  const data = new Float32Array(n);
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const d = rb(i) - ra(i);
    data[i] = d;
    if (Math.abs(d) > maxAbs) maxAbs = Math.abs(d);
  }
  const diff = asFloat(later, data, "difference.nii");
  // differences above a quarter of the largest, both signs (set on the header too: NiiVue
  // re-reads a trusted header window when it uploads the layer)
  const lo = maxAbs * 0.25 || 1e-6;
  const hi = maxAbs || 1;
  diff.hdr.cal_min = diff.cal_min = lo;
  diff.hdr.cal_max = diff.cal_max = hi;
  diff.cal_minNeg = -hi;
  diff.cal_maxNeg = -lo;
  diff.colormap = "warm";
  diff.colormapNegative = "winter";
  diff.opacity = 0.8;
  return [diff, maxAbs];
}

export const CHANGE_LUT = {
  R: [0, 255, 0],
  G: [0, 60, 220],
  B: [0, 60, 255],
  A: [0, 255, 255],
  I: [0, 1, 2],
  labels: ["", "new tumour", "no longer tumour"],
};

/** Tumour change between two segmentations: 1 = tumour only at the later visit, 2 = only at
 * the earlier one. Returns [image, counts]. */
export function tumourChange(laterSeg, earlierSeg) {
  const n = laterSeg.img.length;
  if (earlierSeg.img.length !== n) throw new Error("the two visits are not on the same grid");
  const out = new Uint8Array(n);
  let grew = 0;
  let shrank = 0;
  for (let i = 0; i < n; i++) {
    const b = laterSeg.img[i] > 0;
    const a = earlierSeg.img[i] > 0;
    if (b && !a) {
      out[i] = 1;
      grew++;
    } else if (a && !b) {
      out[i] = 2;
      shrank++;
    }
  }
  const img = laterSeg.clone();
  img.img = out;
  img.name = "change.nii";
  img.setColormapLabel(CHANGE_LUT);
  img.opacity = 0.7;
  return [img, { grew, shrank }];
}

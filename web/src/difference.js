// Difference of two visits on the shared registered grid, in the images' real units.

function real(img) {
  const s = img.hdr.scl_slope || 1;
  const b = img.hdr.scl_inter || 0;
  return (i) => img.img[i] * s + b;
}

/** A new image B − A (float32) with a diverging colour map; `b` is the grid reference. */
export function differenceImage(b, a) {
  const n = b.img.length;
  if (a.img.length !== n) throw new Error("the two visits are not on the same grid");
  const ra = real(a);
  const rb = real(b);
  const out = new Float32Array(n);
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const d = rb(i) - ra(i);
    out[i] = d;
    const m = Math.abs(d);
    if (m > maxAbs) maxAbs = m;
  }
  const diff = b.clone();
  diff.img = out;
  diff.hdr.datatypeCode = 16;
  diff.hdr.numBitsPerVoxel = 32;
  diff.hdr.scl_slope = 1;
  diff.hdr.scl_inter = 0;
  diff.name = "difference.nii";
  diff.calMinMax();
  // show differences above a quarter of the largest, both signs
  const lo = maxAbs * 0.25 || 1e-6;
  diff.cal_min = lo;
  diff.cal_max = maxAbs || 1;
  diff.cal_minNeg = -(maxAbs || 1);
  diff.cal_maxNeg = -lo;
  diff.colormap = "warm";
  diff.colormapNegative = "winter";
  diff.opacity = 0.8;
  return diff;
}

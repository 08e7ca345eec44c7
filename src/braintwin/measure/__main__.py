"""``python -m braintwin.measure SEG.nii.gz [--reference T1CE.nii.gz] [--out DIR]``.

Measures a BraTS label NIfTI, prints one line per region and, last, one JSON object
(``{"regions": {name: measurement}, "files": [...]}``). With ``--out`` it also writes the
segmentation outputs (NIfTI, DICOM SEG, STL meshes, CSV). A development entry point until
the CLI's ``braintwin measure`` is wired to the twin.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from braintwin.errors import BraintwinError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status (2 on a braintwin error)."""
    from braintwin.io.nifti import load_nifti
    from braintwin.measure.export import export_segmentation_outputs
    from braintwin.measure.regions import measure_segmentation
    from braintwin.types import Modality

    ap = argparse.ArgumentParser(prog="python -m braintwin.measure", description=__doc__)
    ap.add_argument("seg", help="BraTS label NIfTI (0/1/2/4)")
    ap.add_argument("--reference", help="image NIfTI on the same grid, for the DICOM SEG")
    ap.add_argument("--out", help="folder for NIfTI / DICOM SEG / STL / CSV outputs")
    args = ap.parse_args(argv)
    try:
        t0 = time.perf_counter()
        seg = load_nifti(args.seg, Modality.SEG)
        m = measure_segmentation(seg)
        seconds = time.perf_counter() - t0
        for name, r in m.items():
            print(
                f"{name:9s} {r.volume_ml:8.2f} mL  max diameter {r.largest_diameter_mm:6.1f} mm "
                f"(index lesion {r.index_lesion_diameter_mm:5.1f})  "
                f"axial {r.longest_axial_mm:5.1f} x {r.perpendicular_mm:5.1f} mm = "
                f"{r.bidimensional_mm2:7.0f} mm²  SPD {r.sum_of_products_mm2:7.0f} mm² "
                f"({r.n_measurable} measurable / {r.n_components} components)"
            )
        files: list[str] = []
        if args.out:
            ref = load_nifti(args.reference) if args.reference else None
            files = [str(p) for p in export_segmentation_outputs(seg, ref, args.out)]
        out = {
            "regions": {k: v.to_dict() for k, v in m.items()},
            "seconds": seconds,
            "files": files,
        }
        print(json.dumps(out, separators=(",", ":")))
    except BraintwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""export_segmentation_outputs: every requested file is written and reads back consistently."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.measure import EXPORT_FORMATS, export_segmentation_outputs
from braintwin.types import Modality, Volume


def _seg() -> Volume:
    d = np.zeros((20, 18, 12), np.int16)  # synthetic tumour: edema around an enhancing core
    d[3:17, 3:15, 2:10] = 2
    d[6:13, 6:12, 4:8] = 4
    d[8:11, 8:10, 5:7] = 1
    affine = np.diag([1.0, 1.0, 1.5, 1.0])
    affine[:3, 3] = [-30.0, 10.0, 0.0]
    return Volume(d, affine, Modality.SEG)


def test_all_formats(tmp_path: Path) -> None:
    seg = _seg()
    t1ce = seg.with_data(np.random.default_rng(0).normal(size=seg.shape), Modality.T1CE)
    paths = export_segmentation_outputs(
        seg, None, tmp_path / "out", formats=EXPORT_FORMATS, images={Modality.T1CE: t1ce}
    )
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "segmentation.nii.gz",
            "segmentation_seg.dcm",
            "WT.stl",
            "TC.stl",
            "ET.stl",
            "WT.obj",
            "TC.obj",
            "ET.obj",
            "measurements.csv",
            "measurements.json",
            "radiomics.csv",
        ]
    )
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    img = nib.load(tmp_path / "out" / "segmentation.nii.gz")
    np.testing.assert_array_equal(np.asarray(img.dataobj), seg.data)
    np.testing.assert_allclose(img.affine, seg.affine)
    sdesc = hd.seg.segread(tmp_path / "out" / "segmentation_seg.dcm")
    assert len(sdesc.SegmentSequence) == 3
    rows = json.loads((tmp_path / "out" / "measurements.json").read_text())
    wt = next(r for r in rows if r["region"] == "WT")
    assert wt["volume_ml"] == pytest.approx(14 * 12 * 8 * 1.5 / 1000)


def test_skips_empty_regions_and_rejects_unknown_format(tmp_path: Path) -> None:
    seg = _seg()
    only_edema = seg.with_data(np.where(seg.data > 0, 2, 0).astype(np.int16))
    paths = export_segmentation_outputs(only_edema, None, tmp_path, formats=("stl",))
    assert [p.name for p in paths] == ["WT.stl"]
    with pytest.raises(InputError, match="format"):
        export_segmentation_outputs(seg, None, tmp_path, formats=("vtk",))
    with pytest.raises(InputError, match="images"):
        export_segmentation_outputs(seg, None, tmp_path, formats=("radiomics",))

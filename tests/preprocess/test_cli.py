"""``braintwin preprocess PATH --out DIR`` on a small synthetic visit, and its bad-input path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from braintwin.cli import _register_all, app, main


def _write(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), str(path))


def _phantom(shape: tuple[int, int, int], bright: float) -> np.ndarray:
    """Synthetic ellipsoid 'brain' with an off-centre blob (for a CLI smoke test)."""
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    brain = x**2 + (y / 0.9) ** 2 + (z / 0.8) ** 2 <= 0.7
    blob = (x - 0.3) ** 2 + (y + 0.2) ** 2 + z**2 <= 0.05
    return np.where(brain, 100.0 + 20 * x, 0.0) + np.where(blob & brain, bright, 0.0)


def test_cli_preprocess_writes_outputs(tmp_path: Path) -> None:
    case = tmp_path / "visit"
    case.mkdir()
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    _write(case / "visit_t1ce.nii.gz", _phantom((32, 32, 32), 80.0), aff)
    _write(case / "visit_flair.nii.gz", _phantom((32, 32, 32), 40.0), aff)
    _register_all()
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["preprocess", str(case), "--out", str(out), "--spacing", "2", "--no-n4"]
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.output.strip().splitlines()[-1])
    assert result["seconds"] > 0
    names = {p.name for p in out.iterdir()}
    assert {"t1ce.nii.gz", "flair.nii.gz", "brain_mask.nii.gz", "transforms.json"} <= names
    transforms = json.loads((out / "transforms.json").read_text())
    assert transforms["fixed"] == "t1ce"
    # Output names carry modalities only, never the input's (possibly identifying) names.
    assert not any("visit" in n for n in names)


def test_cli_fov_mismatch_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = tmp_path / "visit"
    case.mkdir()
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    shifted = aff.copy()
    shifted[0, 3] = 38.0  # 64 mm fields of view, 38 mm apart: 41 % overlap
    _write(case / "a_t1ce.nii.gz", _phantom((32, 32, 32), 80.0), aff)
    _write(case / "a_t2.nii.gz", _phantom((32, 32, 32), 40.0), shifted)
    with pytest.raises(SystemExit) as exc:
        main(["preprocess", str(case), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "overlap only" in err and "t2" in err and "t1ce" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written


def test_cli_input_spacing_replaces_the_header_voxel_size(tmp_path: Path) -> None:
    """``--input-spacing`` is the true input voxel size (as ``ingest --spacing``): a 2 mm
    header read as 2 x 2 x 4 mm gives a native grid with 4 mm slices."""
    case = tmp_path / "visit"
    case.mkdir()
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    _write(case / "visit_t1ce.nii.gz", _phantom((32, 32, 32), 80.0), aff)
    _register_all()
    out = tmp_path / "out"
    args = ["preprocess", str(case), "--out", str(out), "--spacing", "2", "--no-n4"]
    res = CliRunner().invoke(app, [*args, "--input-spacing", "2,2,4"])
    assert res.exit_code == 0, res.output
    transforms = json.loads((out / "transforms.json").read_text())
    native = np.asarray(transforms["modalities"]["t1ce"]["native_affine"])
    assert np.allclose(np.linalg.norm(native[:3, :3], axis=0), [2.0, 2.0, 4.0])
    with pytest.raises(SystemExit) as bad:
        main([*args, "--input-spacing", "0,2,4"])
    assert bad.value.code == 2

"""``braintwin simulate`` (SYNTHETIC patients on the MNI152 brain) and its bad-input path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from braintwin.cli import _register_all, app, main
from braintwin.io import load_nifti, read_visit_images


@pytest.mark.slow
def test_simulate_writes_labelled_synthetic_patients(tmp_path: Path) -> None:
    _register_all()
    out = tmp_path / "syn"
    res = CliRunner().invoke(
        app,
        [
            "simulate",
            str(out),
            "--n",
            "1",
            "--seed",
            "3",
            "--resolution",
            "2",
            "--visits",
            "0,45",
            "--d-w",
            "0.3",
            "--rho",
            "0.1",
            "--detect-ml",
            "4",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.output.strip().splitlines()[-1])
    assert result["synthetic"] is True and result["n"] == 1
    case = out / "SYN0001"
    manifest = json.loads((case / "synthetic.json").read_text())
    assert manifest["SYNTHETIC"] is True
    assert manifest["true_parameters"]["D_w"] == 0.3 and manifest["true_parameters"]["rho"] == 0.1
    assert [v["day"] for v in manifest["visits"]] == [0.0, 45.0]
    visit = read_visit_images(case / "SYN0001_v1")  # the BraTS layout is readable as is
    assert visit.segmentation is not None
    dens = load_nifti(case / manifest["visits"][1]["density"])
    assert dens.shape == visit.segmentation.shape == (98, 116, 94)  # 1 mm MNI152 halved
    assert 0 < dens.data.max() <= 1


def test_simulate_seed_outside_brain_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["simulate", str(tmp_path / "x"), "--resolution", "2", "--seed-mm", "0,0,95"])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert "outside the brain" in err and "Traceback" not in err

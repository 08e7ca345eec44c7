"""BIDS in and out on the real follow-up pair: ingest (two sessions, expert masks from
derivatives), export (layout, privacy, the npm bids-validator when installed) and the round
trip export -> ingest as a new patient, which must give the same volumes.

Tolerance of the round trip: none. An exported session re-ingested as a first visit keeps the
exported grid (1 mm isotropic already), and ``--seg-from braintwin`` gives back the exported
labels on that very grid, so the label volume and every measurement must be identical.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin import __version__
from braintwin.cli import main
from braintwin.twin import Twin

from .conftest import PAIR_DATES, SUBJECT, make_progression_bids

pytestmark = pytest.mark.slow

FAST = ["--no-n4", "--no-classify", "--no-update", "--segment", "none"]
PATIENT = "P-10-roundtrip"
PAIR_VOXELS = (338, 160)  # expert mask voxels of pair 10 (tests/data/PROVENANCE.md)
TRUE_VOXEL_MM3 = 5.0  # the pair's true ~1 x 1 x 5 mm voxel, declared with --spacing 1,1,5


def run(args: list[str]) -> int:
    """Run the CLI in-process; its exit code."""
    try:
        main(args)
        return 0
    except SystemExit as ex:
        return int(ex.code or 0)


@dataclass
class Exported:
    home: Path
    source: Path
    out: Path
    twin_id: str
    dates: list[dt.date]
    ml: list[dict[str, float]]
    seg_voxels: list[int]
    printed: str


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    base = tmp_path_factory.mktemp("bids-rt")
    shipped = Path(__file__).resolve().parents[1] / "data" / "progression" / "10"
    source = make_progression_bids(base / "source", shipped)
    home = base / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINTWIN_HOME", str(home))
        printed = []
        for args in (
            ["ingest", str(source), "-p", PATIENT, "--seg-from", "manual", "--spacing", "1,1,5"],
            ["update", PATIENT],  # calibrates and stores a forecast, exported as probseg
            ["export", "bids", PATIENT, str(base / "export")],
        ):
            from contextlib import redirect_stdout
            from io import StringIO

            buf = StringIO()
            with redirect_stdout(buf):
                code = run(args + (FAST if args[0] == "ingest" else []))
            printed.append(buf.getvalue())
            assert code == 0, (args, buf.getvalue())
        twin = Twin.open(PATIENT)
        visits = twin.visits()
        yield Exported(
            home=home,
            source=source,
            out=base / "export",
            twin_id=twin.id,
            dates=[v.date for v in visits],
            ml=[{r: m["volume_ml"] for r, m in v.measurements.items()} for v in visits],
            seg_voxels=[int(np.count_nonzero(v.segmentation.data)) for v in visits if v.segmentation is not None],
            printed="\n".join(printed),
        )  # fmt: skip


def test_bids_ingest_gives_the_expert_volumes_on_shifted_dates(exported: Exported) -> None:
    assert "session 1 of 2 -> visit" in exported.printed and "session 2 of 2" in exported.printed
    assert SUBJECT not in exported.printed and PATIENT not in exported.printed
    offset = exported.dates[0] - dt.date.fromisoformat(PAIR_DATES[0])
    assert -365 <= offset.days <= -30
    assert exported.dates[1] - exported.dates[0] == dt.date(1991, 10, 2) - dt.date(1991, 7, 4)
    for ml, voxels in zip(exported.ml, PAIR_VOXELS, strict=True):
        # The masks resampled (nearest neighbour) from 1 x 1 x 5 mm onto the twin's 1 mm grid;
        # the second one also through the rigid registration to the first visit.
        assert ml["ET"] == pytest.approx(voxels * TRUE_VOXEL_MM3 / 1000, rel=0.05)
    # Nothing under the store's home is named after the subject label or the patient.
    names = " ".join(str(p) for p in exported.home.rglob("*"))
    assert SUBJECT not in names and PATIENT not in names


def test_export_layout_is_bids_pseudonymous_and_shifted(exported: Exported) -> None:
    out = exported.out
    label = exported.twin_id.replace("-", "")
    sub = f"sub-{label}"
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["BIDSVersion"] == "1.9.0" and desc["DatasetType"] == "raw"
    deriv = json.loads((out / "derivatives/braintwin/dataset_description.json").read_text())
    assert deriv["DatasetType"] == "derivative"
    assert deriv["GeneratedBy"][0] == {
        **deriv["GeneratedBy"][0],
        "Name": "braintwin",
        "Version": __version__,
    }
    assert (out / "participants.tsv").read_text().split() == ["participant_id", sub]
    rows = [r.split("\t") for r in (out / sub / f"{sub}_sessions.tsv").read_text().splitlines()]
    assert rows == [["session_id", "acq_time"]] + [
        [f"ses-{i + 1:02d}", f"{d}T00:00:00"] for i, d in enumerate(exported.dates)
    ]
    for n in ("01", "02"):
        image = out / sub / f"ses-{n}" / "anat" / f"{sub}_ses-{n}_ce-gadolinium_T1w.nii.gz"
        meta = json.loads(image.with_name(image.name.replace(".nii.gz", ".json")).read_text())
        assert meta["SkullStripped"] is True and "preprocessed" in meta["Description"]
        assert np.allclose(nib.load(str(image)).header.get_zooms()[:3], 1.0)  # type: ignore[attr-defined]
    table = (out / "derivatives/braintwin/desc-tumor_dseg.tsv").read_text().splitlines()
    assert table[0] == "index\tname\tabbreviation" and [r.split("\t")[0] for r in table[1:]] == [
        "0",
        "1",
        "2",
        "4",
    ]
    rule = re.compile(
        rf"^{sub}_ses-0[12](_label-[A-Za-z0-9]+)?_desc-[A-Za-z0-9]+_(dseg|probseg|mask)\.(nii\.gz|json)$"
    )
    files = [p for p in (out / "derivatives/braintwin" / sub).rglob("*") if p.is_file()]
    assert files and all(rule.match(p.name) for p in files), [p.name for p in files]
    dseg = [
        np.asarray(nib.load(str(p)).dataobj)
        for p in sorted(files)
        if p.name.endswith("tumor_dseg.nii.gz")
    ]
    assert [int(np.count_nonzero(d)) for d in dseg] == exported.seg_voxels
    assert all(set(np.unique(d).tolist()) <= {0, 4} for d in dseg)  # binary masks read as ET
    probseg = [p for p in files if p.name.endswith("_probseg.nii.gz")]
    assert {p.name.split("_label-")[1].split("_")[0] for p in probseg} == {"enhancing", "flair"}
    for p in probseg:
        values = np.asarray(nib.load(str(p)).dataobj)
        assert values.min() >= 0.0 and values.max() <= 1.0
    # Privacy: no identifier, no real date, in any name or text file.
    real = list(PAIR_DATES)
    for p in out.rglob("*"):
        assert SUBJECT not in p.name and PATIENT not in p.name
        if p.is_file() and p.suffix in (".json", ".tsv", "") and not p.name.endswith(".gz"):
            text = p.read_text()
            assert SUBJECT not in text and PATIENT not in text
            assert not any(d in text for d in real), p.name


def test_export_refuses_its_own_target_without_force_and_replaces_it_with(
    exported: Exported,
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINTWIN_HOME", str(exported.home))
        before = sorted(p.relative_to(exported.out) for p in exported.out.rglob("*"))
        assert run(["export", "bids", PATIENT, str(exported.out)]) == 2
        assert run(["export", "bids", PATIENT, str(exported.out), "--force"]) == 0
        assert sorted(p.relative_to(exported.out) for p in exported.out.rglob("*")) == before
        leftovers = [p.name for p in exported.out.parent.iterdir() if p.name.startswith(".")]
        assert leftovers == []  # neither the build folder nor the replaced export remain


def bids_validator() -> str | None:
    """The npm bids-validator (1.15.0): $BIDS_VALIDATOR, or `bids-validator` on the PATH."""
    return os.environ.get("BIDS_VALIDATOR") or shutil.which("bids-validator")


def test_export_passes_the_bids_validator(exported: Exported) -> None:
    exe = bids_validator()
    if exe is None:
        pytest.skip("bids-validator not installed (npm install -g bids-validator@1.15.0)")
    proc = subprocess.run(
        [exe, str(exported.out), "--json"], capture_output=True, text=True, timeout=600
    )
    report = json.loads(proc.stdout)
    errors = [(e["key"], e.get("reason")) for e in report["issues"]["errors"]]
    assert errors == [] and proc.returncode == 0, errors
    # The one expected warning: no Authors (braintwin does not invent authors for a patient).
    assert {w["key"] for w in report["issues"]["warnings"]} <= {"NO_AUTHORS"}
    assert report["summary"]["subjects"] == [exported.twin_id.replace("-", "")]
    assert sorted(report["summary"]["sessions"]) == ["01", "02"]


def _reingest(exported: Exported, patient: str, *args: str) -> Twin:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINTWIN_HOME", str(exported.home))
        code = run(
            ["ingest", str(exported.out), "-p", patient, "--seg-from", "braintwin", *args, *FAST]
        )
        assert code == 0
        return Twin.open(patient)


@pytest.mark.parametrize("session", [1, 2])
def test_round_trip_of_each_session_gives_identical_volumes(
    exported: Exported, session: int
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINTWIN_HOME", str(exported.home))
        twin = _reingest(exported, f"RT-{session}", "--session", f"0{session}")
        [visit] = twin.visits()
        assert visit.segmentation is not None
        assert int(np.count_nonzero(visit.segmentation.data)) == exported.seg_voxels[session - 1]
        got = {r: m["volume_ml"] for r, m in visit.measurements.items()}
        assert got == exported.ml[session - 1]
        # The exported date was already shifted; the new patient shifts it once more.
        assert twin.shift(exported.dates[session - 1]) == visit.date


def test_round_trip_of_both_sessions(exported: Exported) -> None:
    """Both sessions in one ingest: the second is registered to the first (a rigid fit of two
    images already on one grid), so its labels may move by the registration's residual."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINTWIN_HOME", str(exported.home))
        twin = Twin.open("RT-both", create=True)
        from braintwin.twin.bids_ingest import BidsSelection, ingest_bids
        from braintwin.twin.ingest import IngestOptions

        opts = IngestOptions(segment=None, n4=False, classify=False, update_model=False)
        ingest_bids(
            twin, exported.out, options=opts, selection=BidsSelection(seg_pipeline="braintwin")
        )
        visits = twin.visits()
        assert (
            len(visits) == 2 and visits[0].measurements["ET"]["volume_ml"] == exported.ml[0]["ET"]
        )
        assert visits[1].measurements["ET"]["volume_ml"] == pytest.approx(
            exported.ml[1]["ET"], rel=0.1
        )

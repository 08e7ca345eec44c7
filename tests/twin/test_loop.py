"""The twin loop holds on real data: expert labels drive the model, an interrupted ingest leaves
a twin that knows it is stale and a re-run resumes, corrected dates and options are applied,
impossible dates are refused. A real BraTS case, cropped around its tumour, is the visit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from braintwin.cli import main
from braintwin.errors import InputError
from braintwin.twin import IngestOptions, Twin
from braintwin.twin.twin import IngestInterrupted
from braintwin.types import Modality, Visit, Volume

FAST = {"segment": None, "classify": False, "n4": False}


def _seg_file(case: Path) -> Path:
    return next(case.glob("*_seg.nii.gz"))


def _images_only(case: Path, tmp_path: Path) -> Path:
    """The case without its label file, so the label can be given with --seg."""
    out = tmp_path / "images"
    out.mkdir()
    for f in case.glob("*.nii.gz"):
        if not f.name.endswith("_seg.nii.gz"):
            (out / f.name).write_bytes(f.read_bytes())
    return out


@pytest.mark.slow
def test_expert_segmentation_drives_the_model_and_an_interrupted_update_resumes(
    home: Path,
    cropped_case: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = cropped_case(40)
    images = _images_only(case, tmp_path)
    twin = Twin.open("loop-test", create=True)
    opts = IngestOptions(**FAST, segmentation=_seg_file(case))

    import braintwin.twin.twin as twin_module

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(twin_module, "update_model", killed)
    monkeypatch.setattr(twin_module, "update_after_visit", killed)
    with pytest.raises(IngestInterrupted) as info:
        twin.add_visit(images, dt.date(2021, 3, 1), options=opts)
    message = str(info.value)
    assert "is stored" in message and f"braintwin update {twin.id}" in message

    # The visit is stored with the expert label as its segmentation; the model knows it is stale.
    visit = twin.visit()
    assert visit.meta["segmentation"]["method"] == "expert"
    assert visit.measurements["WT"]["volume_ml"] > 1.0
    status = twin.model_status()
    assert status.stale and status.newest_visit == visit.date

    # Re-running the same ingest resumes the update instead of saying "nothing changed".
    monkeypatch.undo()
    again = twin.add_visit(images, dt.date(2021, 3, 1), options=opts)
    assert not again.created and again.action == "resumed"
    assert not twin.model_status().stale
    assert len(twin.store.artifacts(twin.id, "posterior", load_volumes=False)) == 1

    # A third run has nothing left to do.
    third = twin.add_visit(images, dt.date(2021, 3, 1), options=opts)
    assert third.action == "unchanged"

    # Re-segmenting a visit the model has seen makes it stale again, and `update` fixes it.
    before = twin.visit().segmentation
    assert before is not None
    shrunk = before.with_data((np.asarray(before.data) == 4).astype(np.uint8) * 4)
    fixed_path = tmp_path / "corrected_seg.nii.gz"
    from braintwin.io import save_nifti

    save_nifti(shrunk, fixed_path)
    twin.import_segmentation(fixed_path)
    assert twin.model_status().stale
    assert "changed" in twin.model_status().reason
    twin.update()
    assert not twin.model_status().stale


def test_visit_dates_in_the_future_or_before_1900_are_refused(
    home: Path, cropped_case: Callable[..., Path]
) -> None:
    case = cropped_case(40)
    twin = Twin.open("date-test", create=True)
    opts = IngestOptions(**FAST, update_model=False)
    for bad in (dt.date.today() + dt.timedelta(days=2), dt.date(1850, 1, 1)):
        with pytest.raises(InputError):
            twin.add_visit(case, bad, options=opts)
    assert twin.visit_dates() == []


def test_reingest_with_a_corrected_date_or_options_is_applied(
    home: Path, cropped_case: Callable[..., Path]
) -> None:
    case = cropped_case(40)
    twin = Twin.open("redate-test", create=True)
    opts = IngestOptions(**FAST, update_model=False)
    first = twin.add_visit(case, dt.date(2021, 3, 1), options=opts)
    moved = twin.add_visit(case, dt.date(2021, 3, 8), options=opts)
    assert moved.action == "re-dated"
    assert twin.visit_dates() == [first.date + dt.timedelta(days=7)]

    # The same images with other options (here N4 on) replace the stored visit.
    redo = IngestOptions(segment=None, classify=False, n4=True, update_model=False)
    replaced = twin.add_visit(case, dt.date(2021, 3, 8), options=redo)
    assert replaced.action == "replaced"
    assert len(twin.visit_dates()) == 1
    assert twin.visit().meta["ingest_options"]["n4"] is True

    # A corrected modality override that makes no sense is refused and changes nothing.
    t2 = next(case.glob("*_t2.nii.gz")).name
    wrong = IngestOptions(**FAST, update_model=False, modalities={t2: Modality.FLAIR})
    with pytest.raises(InputError):  # two FLAIR images in one visit
        twin.add_visit(case, dt.date(2021, 3, 8), options=wrong)
    assert len(twin.visit_dates()) == 1 and twin.visit().meta["ingest_options"]["n4"] is True


def test_cli_ingest_then_an_impossible_date_is_one_line(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    case = cropped_case(40)
    args = ["ingest", str(case), "--patient", "MRN-7", "--date", "2021-05-04", "--no-n4"]
    try:
        main([*args, "--segment", "none", "--no-classify"])
    except SystemExit as ex:
        assert not ex.code
    out, err = capsys.readouterr()
    assert "stored" in out
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as ex2:
        main(["ingest", str(case), "--patient", "MRN-7", "--date", "2031-01-01"])
    assert ex2.value.code == 2
    assert "in the future" in capsys.readouterr().err


def _visit(data: np.ndarray, seg: np.ndarray | None = None) -> Visit:
    aff = np.eye(4)
    vol = Volume(data.astype(np.float32), aff, Modality.T1CE)
    mask = Volume((np.abs(data) > -1).astype(np.uint8), aff, Modality.MASK)
    segv = None if seg is None else Volume(seg.astype(np.uint8), aff, Modality.SEG)
    return Visit(
        date=dt.date(2020, 1, 1), volumes={Modality.T1CE: vol}, brain_mask=mask, segmentation=segv
    )


def test_anatomy_check_flags_another_person_but_not_the_same_one(rng: np.random.Generator) -> None:
    from scipy import ndimage

    from braintwin.preprocess.similarity import anatomy_check

    def anatomy() -> np.ndarray:
        return ndimage.gaussian_filter(rng.normal(size=(40, 40, 40)), 2.0)

    person = anatomy()
    first = _visit(person)
    same = _visit(person + 0.3 * person.std() * rng.normal(size=person.shape))
    other = _visit(anatomy())
    assert anatomy_check(same, first) is None
    flag = anatomy_check(other, first)
    assert flag is not None and "same patient" in flag


def test_ctrl_c_in_the_cli_says_what_was_stored(
    home: Path,
    cropped_case: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import braintwin.twin.twin as twin_module

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(twin_module, "prepare_visit", interrupted)
    case = cropped_case(40)
    with pytest.raises(SystemExit) as ex:
        main(["ingest", str(case), "--patient", "MRN-8", "--date", "2021-05-04"])
    assert ex.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "interrupted while preprocessing: nothing was stored (the twin is unchanged)"
    assert "interrupted" not in err  # said once, with what was stored, not a second time

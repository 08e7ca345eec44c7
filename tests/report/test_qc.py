"""Registration check of a follow-up: checkerboard tiles and the figure's conditions."""

from __future__ import annotations

import datetime as dt

import numpy as np

from braintwin.report.document import Figure, Paragraph
from braintwin.report.qc import checkerboard, registration_qc
from braintwin.types import Modality, Visit, Volume


def test_checkerboard_alternates_tiles_of_the_two_images() -> None:
    a, b = np.zeros((8, 8, 8)), np.ones((8, 8, 8))
    board = checkerboard(a, b, tiles=4)  # tiles of 2 voxels
    assert board[0, 0, 0] == 0 and board[2, 0, 0] == 1 and board[2, 2, 0] == 0
    assert board[1, 1, 1] == 0 and board[3, 1, 1] == 1
    assert board.mean() == 0.5


def _visit(day: int, shape: tuple[int, int, int] = (24, 24, 16), shift: int = 0) -> Visit:
    data = np.zeros(shape, np.float32)
    data[4:20, 4:20, 2:14] = 1.0
    data[8 + shift : 12 + shift, 8:12, 6:10] = 3.0
    seg = np.zeros(shape, np.uint8)
    seg[8 + shift : 12 + shift, 8:12, 6:10] = 4
    vol = Volume(data, np.eye(4), Modality.T1CE)
    return Visit(
        date=dt.date(2020, 1, day),
        volumes={Modality.T1CE: vol},
        segmentation=Volume(seg, np.eye(4), Modality.SEG),
        brain_mask=Volume((data > 0).astype(np.uint8), np.eye(4), Modality.MASK),
    )


def test_registration_qc_draws_one_figure_for_visits_on_one_grid() -> None:
    blocks = registration_qc(_visit(1), _visit(20, shift=2))
    assert blocks is not None and len(blocks) == 1
    fig = blocks[0]
    assert isinstance(fig, Figure) and fig.png.startswith(b"\x89PNG")
    assert "2020-01-01" in fig.caption and "2020-01-20" in fig.caption


def test_registration_qc_says_why_when_grids_differ() -> None:
    blocks = registration_qc(_visit(1), _visit(20, shape=(20, 24, 16)))
    assert blocks is not None and isinstance(blocks[0], Paragraph)
    assert "not stored on one grid" in blocks[0].text
    assert registration_qc(Visit(date=dt.date(2020, 1, 1)), _visit(20)) is None


def test_timeline_has_one_point_per_visit_and_the_plan_s_treatment() -> None:
    import matplotlib.pyplot as plt

    from braintwin.growth import plan_by_name
    from braintwin.report.timeline import ForecastBands, VisitVolumes, timeline_axes

    days = np.linspace(0, 90, 10)
    q = {
        k: days / 10 + f for k, f in zip(("q05", "q25", "q50", "q75", "q95"), range(5), strict=True)
    }
    visits = [
        VisitVolumes(dt.date(2020, 1, 1), {"WT": 20.0, "TC": 5.0, "ET": 3.0}),
        VisitVolumes(dt.date(2020, 3, 1), {"WT": 25.0}),  # no T1ce: TC and ET not drawn as 0
        VisitVolumes(dt.date(2020, 4, 1), {"WT": 30.0, "TC": 6.0, "ET": 4.0}),
    ]
    plan = plan_by_name("stupp", dt.date(2020, 1, 15))
    fig = timeline_axes(
        visits,
        forecast=ForecastBands(dt.date(2020, 4, 1), days, {"enhancing": q}, "'stupp'"),
        plan=plan,
    )
    vol, tx = fig.axes
    lines = {ln.get_label(): ln for ln in vol.get_lines()}
    assert len(lines["WT measured"].get_xdata()) == 3
    assert len(lines["TC measured"].get_xdata()) == 2 and len(lines["ET measured"].get_xdata()) == 2
    assert "TC forecast (median, 50/90 %)" in lines  # the T1ce-visible compartment is TC
    assert "'stupp'" in vol.get_title()
    fractions = sum(len(c.get_segments()) for c in tx.collections)
    assert plan.radiotherapy is not None and fractions == len(plan.radiotherapy.fractions)
    assert len(tx.get_lines()) == len(plan.chemotherapy)
    assert tx.get_yticklabels()[0].get_text() == "RT 60 Gy / 30 fx"
    plt.close(fig)


def test_visit_chapter_with_and_without_segmentation() -> None:
    from braintwin.report.document import Flag, Table
    from braintwin.report.visits import visit_section

    plain = _visit(1)
    plain.segmentation = None
    (chapter,) = visit_section(0, plain)
    assert chapter.title == "Visit 2020-01-01 (baseline)"
    assert any(isinstance(b, Flag) and "No segmentation yet" in b.text for b in chapter.blocks)
    assert sum(isinstance(b, Figure) for b in chapter.blocks) == 1  # one modality, T1ce
    follow = visit_section(1, _visit(20, shift=2), baseline=_visit(1))
    titles = [s.title for s in follow]
    assert titles[0] == "Visit 2020-01-20, 19 days after the first visit"
    assert "Registration check against the first visit" in titles
    regions = next(s for s in follow if s.title.startswith("Tumour regions"))
    table = regions.blocks[0]
    assert isinstance(table, Table)
    # 4x4x4 voxels of 1 mm labelled enhancing: 0.064 mL, measured from the label volume
    assert table.rows[0][:2] == ("whole tumour (WT)", "0.06")

"""``braintwin demo``: the whole pipeline end to end on a real case shipped with braintwin.

The case is Brats18_2013_3_1 from the BraTS 2018 training set (see
``braintwin/data/demo/PROVENANCE.md`` for its citation); everything runs with the embedded
defaults: SQLite and files under ``$BRAINTWIN_HOME``, CPU only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from braintwin.packaged import data_path
from braintwin.twin.ingest import IngestOptions
from braintwin.twin.reporting import write_report
from braintwin.twin.twin import Twin

if TYPE_CHECKING:
    from braintwin.store import Store

__all__ = ["DEMO_CASE", "DemoResult", "demo_case_dir", "run_demo"]

DEMO_CASE = "Brats18_2013_3_1"
DEMO_PATIENT = "demo-brats18-2013-3"
DEMO_DATE = dt.date(2018, 1, 15)  # illustrative; shifted by the patient's secret offset
DEMO_FOLLOWUP_DAYS = 120
# Parameters of the SYNTHETIC follow-up (inside the literature ranges of DESIGN.md).
DEMO_TRUTH = {"D_w": 0.1, "rho": 0.025}


@dataclass
class DemoResult:
    patient: str
    report: Path
    lines: list[str] = field(default_factory=list)


def demo_case_dir() -> Path:
    """Folder of the shipped demo case (BraTS layout)."""
    return data_path("demo", DEMO_CASE)


def _dice_lines(twin: Twin) -> list[str]:
    from braintwin.segment.evaluate import score_case

    v = twin.visit(twin.visit_dates()[0])
    lines = []
    for region in ("WT", "TC", "ET"):
        m = v.measurements.get(region)
        if m:
            lines.append(f"  {region}: {m['volume_ml']:.1f} mL")
    expert = v.extras.get("reference_seg")
    if v.segmentation is not None and expert is not None:
        scores = score_case(v.segmentation.data, expert.data, v.segmentation.spacing)
        d = scores["dice"]
        lines.append(
            f"  Dice vs the expert label: WT {d['WT']:.3f}, TC {d['TC']:.3f}, ET {d['ET']:.3f} "
            "(this case was in the training set)"
        )
    return lines


def run_demo(
    *,
    store: Store | None = None,
    out: Path | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> DemoResult:
    """Ingest, segment and store the real case; add an in-silico follow-up; calibrate; report."""
    from braintwin.growth import GrowthParameters
    from braintwin.twin.model import latest_posterior
    from braintwin.twin.synthetic import add_insilico_visit

    twin = Twin.open(DEMO_PATIENT, store=store, create=True)
    lines = [f"demo case {DEMO_CASE} (BraTS 2018, real patient MRI) -> patient {twin.id}"]
    result = twin.add_visit(demo_case_dir(), DEMO_DATE, options=IngestOptions(), progress=progress)
    state = "ingested" if result.created else "already in the store"
    lines.append(f"visit {result.date}: {state}; modalities {[m.value for m in result.modalities]}")
    lines += [f"note: {f}" for f in result.flags]
    lines += _dice_lines(twin)
    if len(twin.visit_dates()) == 1:
        lines.append(
            f"adding a SYNTHETIC follow-up {DEMO_FOLLOWUP_DAYS} days later, grown by the model "
            f"with D_w={DEMO_TRUTH['D_w']} mm²/day, rho={DEMO_TRUTH['rho']}/day (untreated)"
        )
        date2 = add_insilico_visit(
            twin, DEMO_FOLLOWUP_DAYS, GrowthParameters(**DEMO_TRUTH), progress=progress
        )
        from braintwin.twin.model import update_after_visit

        update = update_after_visit(twin, date2, progress=progress)
        for sc in update.scores:
            lines.append(f"prospective check (from the one-visit prior): {sc.line()}")
    post = latest_posterior(twin)
    if post is not None:
        for name, summ in post.summary().items():
            lo, hi = summ["interval_90"]
            truth = DEMO_TRUTH.get(name)
            lines.append(
                f"posterior {name}: median {summ['median']:.3g} {summ['unit']}, 90% [{lo:.3g}, "
                f"{hi:.3g}]" + (f" (simulated truth {truth})" if truth is not None else "")
            )
    report = write_report(twin, out)
    lines.append(f"report: {report}")
    return DemoResult(twin.id, report, lines)

"""``braintwin demo``: the whole pipeline end to end on a real case shipped with braintwin.

The case is Brats18_2013_3_1 from the BraTS 2018 training set (see
``braintwin/data/demo/PROVENANCE.md`` for its citation); everything runs with the embedded
defaults: SQLite and files under ``$BRAINTWIN_HOME``, CPU only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from braintwin.twin.ingest import IngestOptions
from braintwin.twin.reporting import write_report
from braintwin.twin.twin import Twin

if TYPE_CHECKING:
    from braintwin.store import Store

__all__ = ["DEMO_CASE", "DemoResult", "demo_case_dir", "run_demo"]

DEMO_CASE = "Brats18_2013_3_1"
DEMO_PATIENT = "demo-brats18-2013-3"
DEMO_DATE = dt.date(2018, 1, 15)  # illustrative; shifted by the patient's secret offset


@dataclass
class DemoResult:
    patient: str
    report: Path
    lines: list[str] = field(default_factory=list)


def demo_case_dir() -> Path:
    """Folder of the shipped demo case (BraTS layout)."""
    return Path(str(resources.files("braintwin") / "data" / "demo" / DEMO_CASE))


def run_demo(
    *,
    store: Store | None = None,
    out: Path | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> DemoResult:
    """Ingest, preprocess, segment and store the demo case, then write its report."""
    twin = Twin.open(DEMO_PATIENT, store=store, create=True)
    lines = [f"demo case {DEMO_CASE} (BraTS 2018, real patient MRI) -> patient {twin.id}"]
    result = twin.add_visit(demo_case_dir(), DEMO_DATE, options=IngestOptions(), progress=progress)
    state = "ingested" if result.created else "already in the store"
    lines.append(f"visit {result.date}: {state}; modalities {[m.value for m in result.modalities]}")
    lines += [f"note: {f}" for f in result.flags]
    report = write_report(twin, out)
    lines.append(f"report: {report}")
    return DemoResult(twin.id, report, lines)

"""``braintwin eval coverage``: how much of the recurrence each CTV would have irradiated.

The PREDICT-GBM measure (Zimmer et al. 2025, arXiv:2509.13360): the fraction of the follow-up's enhancing
tumour that lies inside (a) the standard CTV (GTV + 15 mm within the brain) and (b) the
model CTV of equal volume, both planned on the first scan.

One path, in the order a clinic would live it: each pair of the progression layout
(``NN/{Pre,Post}_{Scan_T1,Mask}.nii.gz`` + ``supplementary.csv``) becomes a new patient in a
fresh temporary store. The first scan is ingested with :meth:`Twin.add_visit` exactly as
``braintwin ingest --seg MASK --spacing X,Y,Z --no-update`` does, the model is calibrated on it
(``braintwin calibrate``; one visit, so the posterior *is* the population prior, as for any new
patient) and the CTVs are planned (``braintwin plans ctv``). Only then is the follow-up ingested the
same way (registered to the first scan by the twin's ingest); the model never sees it.

Observed region: the follow-up's enhancing tumour ET (label 4; the progression masks are binary
enhancing masks, ingested as label 4); when a follow-up shows no ET, its tumour core TC. The
part of it outside the baseline GTV (the new recurrence region) is reported separately: both
CTVs contain the GTV, so only that part can tell them apart.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.calibrate.progression import PairFiles, pair_files
from braintwin.errors import BraintwinError
from braintwin.plan.target import DEFAULT_GROW_DAYS, DEFAULT_MARGIN_MM, DEFAULT_SAMPLES
from braintwin.types import Modality, Region, region_mask

__all__ = ["PairCoverage", "evaluate_coverage", "run_pair"]

Progress = Callable[[str, float], None]


@dataclass
class PairCoverage:
    """Coverage of one pair's follow-up tumour by both CTVs of the baseline.

    Fractions are of the observed follow-up region (``coverage_*``) and of its part outside the
    baseline GTV (``outside_*``; None when the follow-up lies entirely inside the GTV).
    """

    pair: str
    interval_days: float
    observed_region: str
    gtv_ml: float
    ctv_ml: float
    followup_ml: float
    outside_gtv_ml: float
    coverage_standard: float
    coverage_model: float
    outside_standard: float | None
    outside_model: float | None
    dice_model_vs_standard: float
    posterior_source: str
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 4)
        return out


def _fraction(part: np.ndarray, whole: np.ndarray) -> float | None:
    n = int(np.count_nonzero(whole))
    return None if n == 0 else float(np.count_nonzero(part & whole)) / n


def run_pair(
    files: PairFiles,
    *,
    spacing: tuple[float, float, float] | None,
    margin_mm: float = DEFAULT_MARGIN_MM,
    grow_days: float = DEFAULT_GROW_DAYS,
    n_samples: int = DEFAULT_SAMPLES,
    progress: Progress | None = None,
) -> PairCoverage:
    """Plan both CTVs on the first scan of a new twin, then score them on the follow-up."""
    from braintwin.calibrate.forward import seg_labels
    from braintwin.store import Store
    from braintwin.twin.ingest import IngestOptions
    from braintwin.twin.model import calibrate_twin
    from braintwin.twin.targets import twin_target_volumes
    from braintwin.twin.twin import Twin

    def step(message: str, fraction: float) -> None:
        if progress is not None:
            progress(message, fraction)

    def options(mask: Path) -> IngestOptions:
        return IngestOptions(
            modality=Modality.T1CE,
            spacing_override=spacing,
            segmentation=mask,  # the expert mask replaces the network
            classify=False,  # the tumour type plays no part in the CTV
            update_model=False,  # calibrated explicitly on the first scan only
        )

    with tempfile.TemporaryDirectory(prefix="bt-evalcov-", ignore_cleanup_errors=True) as tmp:
        # An explicit SQLite URL: a user's $BRAINTWIN_DB_URL must never receive these visits.
        home = Path(tmp)
        with Store.open(url=f"sqlite:///{home / 'braintwin.db'}", home=home) as store:
            twin = Twin.open(f"eval-coverage-{files.pair_id}", store=store, create=True)
            step("ingesting the first scan", 0.0)
            flags = list(
                twin.add_visit(
                    files.pre_scan, files.pre_date, options=options(files.pre_mask)
                ).flags
            )
            step("calibrating on the first scan", 0.4)
            post = calibrate_twin(twin)
            step("planning the CTVs", 0.45)
            targets = twin_target_volumes(
                twin, margin_mm=margin_mm, grow_days=grow_days, n_samples=n_samples
            )
            step("ingesting the follow-up", 0.55)
            result = twin.add_visit(
                files.post_scan, files.post_date, options=options(files.post_mask)
            )
            flags += result.flags
            follow = twin.visit(result.date)
            if follow.segmentation is None or not follow.segmentation.same_grid(targets.gtv):
                raise BraintwinError(
                    f"pair {files.pair_id}: the follow-up is not on the first scan's grid",
                    "the twin's ingest should have registered it; check the input files",
                )
            labels = seg_labels(follow.segmentation)
            region = Region.ET if np.any(labels == 4) else Region.TC
            observed = region_mask(labels, region)
            if not observed.any():
                raise BraintwinError(
                    f"pair {files.pair_id}: the follow-up shows no tumour core",
                    "coverage needs an enhancing recurrence",
                )
    gtv = targets.gtv.data > 0
    standard, model = targets.standard.data > 0, targets.model.data > 0
    outside = observed & ~gtv
    vox_ml = targets.gtv.voxel_volume_mm3 / 1000.0
    return PairCoverage(
        pair=files.pair_id,
        interval_days=files.interval_days,
        observed_region=region.value,
        gtv_ml=targets.gtv_ml,
        ctv_ml=targets.standard_ml,
        followup_ml=float(observed.sum()) * vox_ml,
        outside_gtv_ml=float(outside.sum()) * vox_ml,
        coverage_standard=float(_fraction(standard, observed) or 0.0),
        coverage_model=float(_fraction(model, observed) or 0.0),
        outside_standard=_fraction(standard, outside),
        outside_model=_fraction(model, outside),
        dice_model_vs_standard=targets.dice,
        posterior_source=post.source,
        flags=flags,
    )


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def evaluate_coverage(
    root: Path | str,
    *,
    spacing: tuple[float, float, float] | None,
    margin_mm: float = DEFAULT_MARGIN_MM,
    grow_days: float = DEFAULT_GROW_DAYS,
    n_samples: int = DEFAULT_SAMPLES,
    pairs: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every pair under ``root`` through the twin; per-pair and mean coverage of both CTVs.

    Args:
        root: folder in the progression layout.
        spacing: voxel size (mm) overriding the headers (``None``: trust them).
        margin_mm: standard CTV margin; grow_days, n_samples: model CTV settings
            (``plan.target.target_volumes``).
        pairs: only these pair folders (default: all).
        progress: callback ``(message, fraction)``.
    """
    files = pair_files(root, pairs)
    t0 = time.perf_counter()
    rows: list[PairCoverage] = []
    for i, f in enumerate(files):
        sub = (
            (lambda m, x, i=i, f=f: progress(f"pair {f.pair_id}: {m}", (i + x) / len(files)))
            if progress is not None
            else None
        )
        row = run_pair(
            f,
            spacing=spacing,
            margin_mm=margin_mm,
            grow_days=grow_days,
            n_samples=n_samples,
            progress=sub,
        )
        rows.append(row)
        if progress is not None:
            progress(
                f"pair {f.pair_id} done: standard {row.coverage_standard:.3f}, "
                f"model {row.coverage_model:.3f}",
                (i + 1) / len(files),
            )
    regions = sorted({r.observed_region for r in rows})
    n_outside = sum(r.outside_standard is not None for r in rows)
    return {
        "n": len(rows),
        "path": "each pair: first scan ingested into a fresh twin (Twin.add_visit, as "
        "`braintwin ingest --seg`), calibrated on it alone (one visit: the population prior), "
        "CTVs planned (`braintwin plans ctv`), then the follow-up ingested and registered",
        "spacing_mm": list(spacing) if spacing is not None else "header",
        "observed_region": ", ".join(regions),
        "region_note": "follow-up enhancing tumour ET (label 4; the binary masks are ET); TC "
        "where a follow-up has no ET",
        "gtv": "baseline T1ce-visible tumour core TC (labels 1+4)",
        "margin_mm": margin_mm,
        "grow_days": grow_days,
        "n_samples": n_samples,
        "pairs_with_recurrence_outside_gtv": n_outside,
        "standard_margin": {
            "coverage": _mean([r.coverage_standard for r in rows]),
            "coverage_outside_gtv": _mean([r.outside_standard for r in rows]),
        },
        "model_ctv": {
            "coverage": _mean([r.coverage_model for r in rows]),
            "coverage_outside_gtv": _mean([r.outside_model for r in rows]),
        },
        "pairs": [r.to_dict() for r in rows],
        "seconds": round(time.perf_counter() - t0, 1),
    }

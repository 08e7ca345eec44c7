"""Forward simulation of the reaction-diffusion model with treatment events.

    du/dt = div(D(x) grad u) + rho u (1 - u) - k_chemo(t) u,   no flux at the brain boundary,
    u <- u · exp(-alpha d(x) - beta d(x)²) at each radiotherapy fraction,
    dn/dt = k_chemo(t) u - lambda n,   n += u · (1 - exp(-alpha d - beta d²)) at each fraction.

``u`` is the viable tumour cell density, ``n`` the density of cells lethally damaged by
radiotherapy or temozolomide that have not been cleared yet (they no longer divide or migrate
and die at their next attempted mitosis; cleared at lambda = clearance_ratio · rho, see
``GrowthParameters``). Imaging sees both: the returned fields and visible volumes are of
u + n (clipped to 1), so a tumour shrinks over weeks after treatment, as glioblastoma does on
MRI, instead of vanishing at the first fraction. Doomed cells do not limit the proliferation
of the survivors (a simplification: no crowding term for n).

Time stepping: explicit finite volumes for diffusion (dt <= h²/(6 D_max) in 3D isotropic,
so the update is monotone and u stays in [0, 1]) with the logistic/kill reaction applied
exactly in every step (Lie splitting). The time axis is cut at every output, fraction and
chemotherapy start/stop, so events fall on step boundaries.

Cropping: the solver only touches a box around the tumour's reach: the bounding box of
u > 1e-8 grown by how far the tail can travel in the next chunk, 2·sqrt(D rho)·Δ (front) +
4·sqrt(D Δ) (diffusive spread) + 3 voxels, clipped to the brain and re-cropped as it grows.
The box edge is no-flux; the margin keeps what is lost there far below the 1e-8 level.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from braintwin.errors import InputError, ModelError
from braintwin.growth.domain import Box, Domain
from braintwin.growth.logistic import reaction_coefficients
from braintwin.growth.observe import ObservationThresholds
from braintwin.growth.parameters import GrowthParameters
from braintwin.growth.solvers import get_solver, stable_dt
from braintwin.growth.trajectory import Trajectory
from braintwin.growth.treatment import chemo_kill_rate, plan_events, target_dose_map
from braintwin.types.records import TreatmentPlan
from braintwin.types.volume import Volume

__all__ = ["ACTIVE_LEVEL", "IMPLAUSIBLE_FRACTION", "simulate"]

ACTIVE_LEVEL = 1e-8  # densities below this do not widen the crop box
_SAFETY = 0.95  # fraction of the stability limit used when dt is chosen automatically
_CHUNK_DAYS = 5.0  # how often the crop box is checked
#: A visible tumour above this fraction of the brain volume is flagged in ``Trajectory.notes``
#: (glioblastomas at diagnosis are tens of mL; half a brain is not compatible with life).
IMPLAUSIBLE_FRACTION = 0.3


class _Work:
    """The cropped working state: padded u and D on a box of the full grid."""

    def __init__(self, sim: _Sim, box: Box) -> None:
        self.box = box
        shape = tuple(s.stop - s.start + 2 for s in box)
        inner = (slice(1, -1),) * 3
        self.u = np.zeros(shape, dtype=sim.solver.dtype)
        self.u[inner] = sim.u_full[box]
        D = np.zeros(shape, dtype=np.float32)
        D[inner] = sim.domain.diffusivity(sim.params, box)
        active = np.zeros(shape, dtype=bool)
        active[inner] = sim.domain.mask[box]
        self.state = sim.solver.prepare(D, sim.domain.spacing, active)
        self.cells = sim.solver.cells(self.state)

    def inner(self) -> np.ndarray:
        return self.u[1:-1, 1:-1, 1:-1]


class _Sim:
    def __init__(
        self, u_full: np.ndarray, domain: Domain, params: GrowthParameters, solver: str, crop: bool
    ) -> None:
        self.u_full, self.domain, self.params, self.crop = u_full, domain, params, crop
        self.solver = get_solver(solver)
        self.brain_box = domain.bounding_box(pad=0)
        self.d_max = float(params.D_w * max(1.0, params.gm_ratio, params.csf_ratio))
        self.work: _Work | None = None
        self.steps = 0
        self.cell_updates = 0
        self.max_dt = 0.0
        self.leak = 0.0  # largest density seen on the crop box's inner faces
        self.lam = params.clearance_per_day
        self.n_full: np.ndarray | None = None  # doomed cells (full grid; they do not move)
        self.nbox: Box | None = None  # bounding box of where n may be non-zero

    def reach_vox(self, days: float) -> list[int]:
        D, r = self.d_max, self.params.rho
        mm = 2 * math.sqrt(D * r) * days + 4 * math.sqrt(D * days)
        return [math.ceil(mm / h) + 3 for h in self.domain.spacing]

    def ensure_box(self, days: float) -> _Work:
        """Make sure the working box covers where the tumour can be after ``days``."""
        if not self.crop:
            if self.work is None:
                self.work = _Work(self, self.brain_box)
            return self.work
        if self.work is not None and self.work.box == self.brain_box:
            return self.work  # already the whole brain: nothing to grow into
        if self.work is None:
            src, off = self.u_full, [0, 0, 0]
        else:
            src, off = self.work.inner(), [s.start for s in self.work.box]
        active = src > ACTIVE_LEVEL
        # The bounding box from the three axis projections (cheaper than np.nonzero's indices).
        spans = [
            np.flatnonzero(active.any(axis=tuple(b for b in range(3) if b != a))) for a in range(3)
        ]
        if spans[0].size == 0:  # tumour gone: keep (or make) a box
            if self.work is None:
                self.work = _Work(self, self.brain_box)
            return self.work
        lo = [int(i[0]) + o for i, o in zip(spans, off, strict=True)]
        hi = [int(i[-1]) + o + 1 for i, o in zip(spans, off, strict=True)]
        need = self._box(lo, hi, self.reach_vox(days))
        if self.work is not None and all(
            n.start >= b.start and n.stop <= b.stop
            for n, b in zip(need, self.work.box, strict=True)
        ):
            return self.work
        # Grow ahead (reach of 2 chunks) so re-crops stay rare.
        new = self._box(lo, hi, self.reach_vox(2 * days))
        self.sync()
        self.work = _Work(self, new)
        return self.work

    def _box(self, lo: list[int], hi: list[int], pad: list[int]) -> Box:
        return tuple(
            slice(max(b.start, a - p), min(b.stop, z + p))
            for a, z, p, b in zip(lo, hi, pad, self.brain_box, strict=True)
        )  # type: ignore[return-value]

    def sync(self) -> None:
        if self.work is not None:
            self.u_full[self.work.box] = self.work.inner()

    def add_dead(self, box: Box, amount: np.ndarray) -> None:
        """Add doomed cells on ``box`` (full-grid slices)."""
        if self.n_full is None:
            self.n_full = np.zeros(self.u_full.shape, dtype=np.float32)
        self.n_full[box] += amount.astype(np.float32)
        self.nbox = box if self.nbox is None else _union(self.nbox, box)

    def clear_dead(self, days: float) -> None:
        if self.n_full is not None and self.nbox is not None:
            self.n_full[self.nbox] *= np.float32(math.exp(-self.lam * days))

    def visible(self) -> tuple[Box, np.ndarray]:
        """(box, u + n clipped to 1 on it): what imaging sees, where anything can be seen."""
        self.sync()
        box = self.work.box if self.work is not None else self.brain_box
        if self.nbox is not None:
            box = _union(box, self.nbox)
        u = self.u_full[box].astype(np.float32)
        if self.n_full is not None:
            u = np.minimum(u + self.n_full[box], np.float32(1.0))
        return box, u

    def advance(self, days: float, kill: float, dt_max: float) -> None:
        t = 0.0
        while t < days - 1e-12:
            chunk = min(_CHUNK_DAYS, days - t)
            work = self.ensure_box(chunk)
            n = max(1, math.ceil(chunk / dt_max - 1e-9))
            step = chunk / n
            e, c = reaction_coefficients(self.params.rho, kill, step)
            before = work.inner().astype(np.float32) if kill > 0 else None
            work.u = self.solver.advance(work.state, work.u, n, step, e, c)
            self.clear_dead(chunk)
            if before is not None:
                # Cells killed by chemotherapy during the chunk (trapezoid in time), each
                # cleared for part of the chunk: mean survival (1 - exp(-λΔ)) / (λΔ).
                x = self.lam * chunk
                keep = -math.expm1(-x) / x if x > 1e-12 else 1.0
                dead = kill * chunk * keep * 0.5 * (before + work.inner())
                self.add_dead(work.box, dead)
            self.leak = max(self.leak, _edge_max(work.u, work.box, self.brain_box))
            self.steps += n
            self.cell_updates += n * work.cells
            self.max_dt = max(self.max_dt, step)
            t += chunk


def _union(a: Box, b: Box) -> Box:
    return tuple(
        slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b, strict=True)
    )  # type: ignore[return-value]


def _edge_max(u: np.ndarray, box: Box, brain_box: Box) -> float:
    """Largest density on the crop box's cut faces (those inside the brain's bounding box).

    Those faces are artificial no-flux walls; a tiny value there means cropping lost nothing.
    """
    inner = u[1:-1, 1:-1, 1:-1]
    worst = 0.0
    for axis, (b, full) in enumerate(zip(box, brain_box, strict=True)):
        for side, cut in ((0, b.start > full.start), (-1, b.stop < full.stop)):
            if cut:
                worst = max(worst, float(np.take(inner, side, axis=axis).max()))
    return worst


def _initial(u0: Volume, domain: Domain, dtype: type) -> np.ndarray:
    domain.check_grid(u0, "initial density")
    u = np.asarray(u0.data, dtype=np.float64)
    if u.min() < 0 or u.max() > 1:
        raise InputError(
            f"initial density must lie in [0, 1], got [{u.min():.3g}, {u.max():.3g}]",
            "u is a fraction of the carrying capacity",
        )
    u = np.where(domain.mask, u, 0.0)  # the model lives in the brain only
    if not np.any(u > 0):
        raise InputError("initial density is zero everywhere in the brain", "seed a tumour first")
    return u.astype(dtype)


def simulate(
    u0: Volume,
    domain: Domain,
    params: GrowthParameters,
    plan: TreatmentPlan | None = None,
    t_days: Sequence[float] = (0.0,),
    *,
    solver: str = "numba",
    start_date: dt.date | None = None,
    dose: Volume | np.ndarray | None = None,
    dt_days: float | None = None,
    crop: bool = True,
    keep: Sequence[float] | None = None,
    thresholds: ObservationThresholds | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Trajectory:
    """Run the model from ``u0`` and return the visible densities at the requested days.

    The returned fields are u + n (viable plus doomed-but-not-cleared cells, clipped to 1):
    what imaging sees. ``Trajectory.cells_mm3`` is the viable burden only.

    Args:
        u0: initial density in [0, 1] on the domain grid (zeroed outside the brain).
        domain: brain domain (grid, mask, tissue fractions).
        params: model parameters (D_w mm²/day, rho 1/day, alpha 1/Gy, ...).
        plan: treatment plan; fraction/chemo days count from ``plan.start``. None = untreated.
        t_days: output times, days after t = 0 (ascending, >= 0).
        solver: a key of ``SOLVERS`` ("reference", "numba", "torch").
        start_date: calendar date of t = 0 (default: ``plan.start``); fractions before it are
            ignored (already delivered).
        dose: relative dose map on the domain grid (1 = the prescribed fraction dose); default
            uniform dose 1 in the target = visible tumour (u >= FLAIR threshold) at the first
            fraction, grown by the plan's ``target_margin_mm`` and clipped to the brain.
        dt_days: explicit time step (days); must satisfy dt <= h²/(6 D_max) (else ModelError).
            Default: 95 % of that limit, shortened so steps end on events.
        crop: restrict work to the tumour's reach (False: whole brain bounding box).
        keep: days (subset of ``t_days``) whose full density is kept; default all.
        thresholds: observation thresholds for the visible-volume summaries.
        progress: callback(message, fraction 0..1).
    """
    times = np.asarray(t_days, dtype=float)
    if times.ndim != 1 or times.size == 0 or times[0] < 0 or np.any(np.diff(times) < 0):
        raise ModelError("t_days must be a non-empty ascending sequence of days >= 0")
    th = thresholds or ObservationThresholds()
    limit = stable_dt(params.D_w * max(1.0, params.gm_ratio, params.csf_ratio), domain.spacing)
    if dt_days is not None:
        if not 0 < dt_days <= limit * (1 + 1e-9):
            raise ModelError(
                f"time step {dt_days} days is unstable for D_max = {params.D_w} mm²/day",
                f"explicit stability needs dt <= h²/(6 D_max) = {limit:.4g} days here",
            )
        dt_max = dt_days
    else:
        dt_max = _SAFETY * limit
    sim = _Sim(_initial(u0, domain, get_solver(solver).dtype), domain, params, solver, crop)
    dose_rel = _dose_array(dose, domain)
    offset = 0.0
    if plan is not None and start_date is not None:
        offset = plan.day_of(start_date)
    t_end = float(times[-1])
    fractions, chemo_edges, margin = plan_events(plan, offset, t_end)
    breaks = sorted(
        {
            0.0,
            *times.tolist(),
            *(t for t, _ in fractions),
            *(t for t in chemo_edges if 0 < t < t_end),
        }
    )
    keep_set = set(times.tolist()) if keep is None else {float(k) for k in keep}
    missing = [k for k in keep_set if not np.any(np.isclose(times, k, rtol=0, atol=1e-9))]
    if missing:
        raise ModelError(f"keep days {sorted(missing)} are not output days", "add them to t_days")
    out_at: dict[float, list[int]] = {}
    for i, v in enumerate(times.tolist()):
        out_at.setdefault(v, []).append(i)
    fields: list[np.ndarray | None] = [None] * times.size
    viable: list[np.ndarray | None] = [None] * times.size
    stats = np.zeros((4, times.size))
    beta = params.alpha / params.alpha_beta
    fi = 0
    t = 0.0
    start = time.perf_counter()
    for b in breaks:
        if b > t:
            kill = 0.0
            if plan is not None:
                kill = params.chemo_sensitivity * chemo_kill_rate(
                    plan.chemotherapy, 0.5 * (t + b) + offset
                )
            sim.advance(b - t, kill, dt_max)
            t = b
            if progress is not None:
                progress("simulating growth", t / t_end if t_end > 0 else 1.0)
        # Break points include every output day exactly (``breaks`` is built from ``times``),
        # so a dict lookup finds them; np.isclose per break cost ~10 % of short runs.
        out_idx = out_at.get(t, ())
        if out_idx:
            # Summaries from the working box only: outside it u < 1e-8 (frozen), which cannot
            # reach a threshold and adds < 1e-8 per voxel to the burden; saves full-grid passes.
            u = sim.u_full if sim.work is None else sim.work.inner()
            vbox, vis = sim.visible()
            vox = domain.voxel_volume_mm3
            row = [
                float(u.sum(dtype=np.float64)) * vox,
                float(np.count_nonzero(vis >= th.enhancing)) * vox,
                float(np.count_nonzero(vis >= th.flair)) * vox,
                float(th.expected_enhancing_fraction(vis).sum(dtype=np.float64)) * vox,
            ]
            for i in out_idx:
                stats[:, i] = row
                if any(abs(float(times[i]) - k) < 1e-9 for k in keep_set):
                    full = np.zeros(domain.shape, dtype=np.float32)
                    full[vbox] = vis
                    fields[i] = full
                    viable[i] = sim.u_full.astype(np.float32, copy=True)
        while fi < len(fractions) and fractions[fi][0] <= t + 1e-9:
            if dose_rel is None:
                vbox, vis = sim.visible()
                target = np.zeros(domain.shape, dtype=bool)
                target[vbox] = vis >= th.flair
                if not target.any():
                    raise ModelError(
                        f"no visible tumour (u >= {th.flair}) at the first fraction, day {t:g}",
                        "pass an explicit dose map (dose=...) to simulate",
                    )
                dose_rel = target_dose_map(target, domain.mask, domain.spacing, margin)
            _apply_fraction(sim, dose_rel, fractions[fi][1], params.alpha, beta)
            fi += 1
    sim.sync()
    notes = []
    brain_mm3 = float(np.count_nonzero(domain.mask)) * domain.voxel_volume_mm3
    if stats[2].max() > IMPLAUSIBLE_FRACTION * brain_mm3:
        notes.append(
            f"FLAIR-visible tumour reaches {stats[2].max() / 1000:.0f} mL, more than "
            f"{IMPLAUSIBLE_FRACTION:.0%} of the {brain_mm3 / 1000:.0f} mL brain: implausible for "
            "a living patient (parameters or horizon outside the clinical range)"
        )
    return Trajectory(
        times=times,
        affine=domain.affine.copy(),
        shape=domain.shape,
        fields=fields,
        cells_mm3=stats[0],
        enhancing_mm3=stats[1],
        flair_mm3=stats[2],
        thresholds=th,
        solver=sim.solver.name,
        steps=sim.steps,
        cell_updates=sim.cell_updates,
        wall_seconds=time.perf_counter() - start,
        dt_days=sim.max_dt,
        crop_edge_density=sim.leak,
        notes=notes,
        viable=viable,
        enhancing_expected_mm3=stats[3],
    )


def _dose_array(dose: Volume | np.ndarray | None, domain: Domain) -> np.ndarray | None:
    if dose is None:
        return None
    if isinstance(dose, Volume):
        domain.check_grid(dose, "dose map")
        arr = np.asarray(dose.data, dtype=np.float32)
    else:
        arr = np.asarray(dose, dtype=np.float32)
        if arr.shape != domain.shape:
            raise ModelError(
                f"dose map shape {arr.shape} does not match the domain grid {domain.shape}",
                "give a relative dose map (1 = prescribed fraction dose) on the domain grid",
            )
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise ModelError("dose map must be finite and >= 0 (relative to the prescribed dose)")
    return arr


def _apply_fraction(
    sim: _Sim, dose_rel: np.ndarray, dose_gy: float, alpha: float, beta: float
) -> None:
    """Instantaneous LQ hit on the working box: a fraction 1 - exp(-alpha d - beta d²) of the
    viable cells (d = dose_rel·dose) becomes doomed (moved from u to n)."""
    work = sim.work if sim.work is not None else sim.ensure_box(_CHUNK_DAYS)
    d = dose_rel[work.box] * dose_gy
    inner = work.inner()
    surv = np.exp(-alpha * d - beta * d * d).astype(inner.dtype)
    sim.add_dead(work.box, inner * (1 - surv))
    inner *= surv

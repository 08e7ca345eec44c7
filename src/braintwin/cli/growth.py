"""CLI commands of the growth engine: ``braintwin simulate`` and ``braintwin bench growth``.

Thin wrappers over ``braintwin.growth``; heavy imports happen inside the commands.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from braintwin.atomic import atomic_write
from braintwin.cli.groups import bench_app, emit_json

__all__ = ["register", "write_synthetic_patient"]


def _log(message: str, fraction: float) -> None:
    typer.echo(f"[{fraction:4.0%}] {message}", err=True)


def _parse_days(text: str) -> list[float]:
    from braintwin.errors import InputError

    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise InputError(f"cannot read visit days {text!r}", "give e.g. 0,90,180") from err


def _brain_domain(brain: str, resolution: int) -> tuple[Any, Any, str]:
    """(Domain, T1 Volume | None, description) for "mni152" or a BraTS case folder."""
    from braintwin.errors import InputError
    from braintwin.growth import Domain
    from braintwin.growth.tissue import mni152_tissue_maps, mni152_volumes

    if brain.lower() == "mni152":
        v = mni152_volumes(1)
        dom = Domain.from_tissue_maps(v["wm"], v["gm"], None, v["brain"])
        t1 = v["t1"].with_data(v["t1"].data * v["brain"].data)
        desc = "MNI152 2009 template brain (nilearn), atlas tissue"
    else:
        from braintwin.io import load_nifti
        from braintwin.types import Modality

        case = Path(brain)
        t1_files = sorted(case.glob("*_t1.nii*"))
        if not t1_files:
            raise InputError(f"no *_t1.nii.gz in {case}", "give a BraTS case folder or 'mni152'")
        t1 = load_nifti(t1_files[0])
        mask = t1.with_data((t1.data > 0).astype("uint8"), Modality.MASK)
        tissue = mni152_tissue_maps(t1, mask)
        dom = Domain.from_tissue_maps(tissue.wm, tissue.gm, tissue.csf, mask)
        desc = "real brain of a BraTS 2018 case (skull-stripped T1 > 0), MNI152 tissue registered"
    if resolution == 2:
        from braintwin.growth.synthetic import coarsen_image

        dom, t1 = dom.coarsen(2), coarsen_image(t1, 2)
    elif resolution != 1:
        raise InputError(f"resolution must be 1 or 2 mm, got {resolution}")
    return dom, t1, desc


def write_synthetic_patient(patient: Any, out: Path, t1: Any = None) -> Path:
    """Write a ``SyntheticPatient``: one BraTS-layout case folder per visit (readable by
    ``braintwin.io``) and the ground truth beside them::

        OUT/CASE/synthetic.json                     SYNTHETIC label, true parameters, plan
        OUT/CASE/CASE_vN/CASE_vN_seg.nii.gz         observed labels (2 edema, 4 enhancing)
        OUT/CASE/CASE_vN/CASE_vN_t1.nii.gz          the brain's T1 (when known)
        OUT/CASE/truth/CASE_vN_density.nii.gz       true cell density u in [0, 1]
        OUT/CASE/truth/brainmask.nii.gz             the simulation domain
    """
    from braintwin.io import save_nifti

    root = out / patient.case_id
    truth = root / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    manifest = patient.manifest()
    save_nifti(patient.brain_mask, truth / "brainmask.nii.gz")
    for i, visit in enumerate(patient.visits):
        name = f"{patient.case_id}_v{i}"
        folder = root / name
        folder.mkdir(exist_ok=True)
        save_nifti(visit.segmentation, folder / f"{name}_seg.nii.gz")
        if t1 is not None:
            save_nifti(t1, folder / f"{name}_t1.nii.gz")
        save_nifti(visit.density, truth / f"{name}_density.nii.gz")
        manifest["visits"][i].update({"folder": name, "density": f"truth/{name}_density.nii.gz"})
    atomic_write(root / "synthetic.json", json.dumps(manifest, indent=2, default=str))
    return root


def register(app: typer.Typer) -> None:
    """Add ``simulate`` (top level) and ``bench growth``."""

    @app.command("simulate")
    def simulate_cmd(
        out: Annotated[Path, typer.Argument(help="Output folder for the synthetic patients.")],
        n: Annotated[int, typer.Option("--n", help="Number of patients.")] = 1,
        seed: Annotated[int, typer.Option(help="Random seed (reproducible).")] = 0,
        visits: Annotated[str, typer.Option(help="Visit days after diagnosis.")] = "0,90,180",
        plan: Annotated[str, typer.Option(help="stupp, hypo or none.")] = "stupp",
        brain: Annotated[str, typer.Option(help="'mni152' or a BraTS case folder.")] = "mni152",
        resolution: Annotated[int, typer.Option(help="Grid spacing in mm (1 or 2).")] = 1,
        diagnosis: Annotated[
            str, typer.Option(help="Date of visit 0 (YYYY-MM-DD).")
        ] = "2020-01-06",
        seed_mm: Annotated[
            str | None, typer.Option(help="Fix the seed point 'x,y,z' (world mm).")
        ] = None,
        d_w: Annotated[
            float | None, typer.Option("--d-w", help="Fix D_w (mm²/day) instead of drawing it.")
        ] = None,
        rho: Annotated[float | None, typer.Option(help="Fix rho (1/day).")] = None,
        alpha: Annotated[float | None, typer.Option(help="Fix alpha (1/Gy).")] = None,
        detect_ml: Annotated[
            float | None, typer.Option(help="T1ce volume (mL) at diagnosis; default 5-30 drawn.")
        ] = None,
    ) -> None:
        """Create SYNTHETIC in-silico patients with ground-truth density and masks."""
        import numpy as np

        from braintwin.errors import InputError
        from braintwin.growth.synthetic import synthesize_patient

        if n < 1:
            raise InputError("--n must be >= 1")
        try:
            date0 = dt.date.fromisoformat(diagnosis)
        except ValueError as err:
            raise InputError(f"bad date {diagnosis!r}", "use YYYY-MM-DD") from err
        point = _parse_days(seed_mm) if seed_mm else None
        if point is not None and len(point) != 3:
            raise InputError("--seed-mm needs three numbers x,y,z")

        fixed = {k: v for k, v in {"D_w": d_w, "rho": rho, "alpha": alpha}.items() if v is not None}
        dom, t1, desc = _brain_domain(brain, resolution)
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(n):
            case = f"SYN{i + 1:04d}"
            _log(f"growing {case}", i / n)
            params = None
            if fixed:  # draw the rest, then override the fixed ones (validated)
                from braintwin.growth.synthetic import draw_parameters

                params = draw_parameters(rng).replace(**fixed)
            pat = synthesize_patient(
                dom,
                rng,
                case_id=case,
                visit_days=_parse_days(visits),
                plan_kind=plan,
                diagnosis_date=date0,
                seed_mm=point,
                params=params,
                detect_ml=detect_ml,
            )
            pat.meta.update(
                {"brain": desc, "rng_seed": seed, "patient_index": i, "grid_mm": resolution}
            )
            folder = write_synthetic_patient(pat, out, t1)
            p = pat.params
            typer.echo(
                f"{case}: SYNTHETIC, D_w={p.D_w:.3g} mm²/day, rho={p.rho:.3g}/day, "
                f"alpha={p.alpha:.3g}/Gy, visits "
                + ", ".join(
                    f"d{v.day:g}: ET {v.enhancing_ml:.1f} mL / FLAIR {v.flair_ml:.1f} mL"
                    for v in pat.visits
                )
            )
            rows.append({"case": case, "folder": str(folder), "true_parameters": p.model_dump()})
        emit_json({"synthetic": True, "n": n, "out": str(out), "patients": rows})

    @bench_app.command("growth")
    def bench_growth_cmd(
        steps: Annotated[int, typer.Option(help="Kernel steps per timing (best of 30).")] = 2,
    ) -> None:
        """Solver cell-updates/s vs this machine's memory roofline; one simulated year timed."""
        from braintwin.growth.bench import bench_growth

        result, details = bench_growth(steps=steps, progress=_log)
        typer.echo(
            f"grid {result['grid']} at {result['spacing_mm']} mm; kernel box {details['kernel_box']}\n"
            f"numba: {result['cell_updates_per_s']:.3g} cell-updates/s "
            f"({details['speedup_vs_reference']:.1f}x the NumPy reference at "
            f"{result['reference_cell_updates_per_s']:.3g}/s)\n"
            f"STREAM triad {result['memory_bandwidth_gb_s']:.1f} GB/s -> roofline fraction "
            f"{result['roofline_fraction']:.2f} at {details['bytes_per_cell_update']} B/update\n"
            f"one year (D_w 0.5, rho 0.05, Stupp): {result['seconds_1yr_2mm']:.2f} s at 2 mm "
            f"({details['year_2mm']['steps']} steps, CPU {details['year_2mm']['cpu_seconds']:.2f} s), "
            f"{result['seconds_1yr_1mm']:.2f} s at 1 mm ({details['year_1mm']['steps']} steps, "
            f"{details['year_1mm']['cell_updates']:.3g} updates, CPU "
            f"{details['year_1mm']['cpu_seconds']:.2f} s)\n"
            f"load average at the end: {details['load_average']}"
        )
        emit_json(result)

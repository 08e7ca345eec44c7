"""CLI commands of the growth engine: ``simulate``, ``bench growth`` and ``eval population``.

Thin wrappers over ``braintwin.growth`` and ``braintwin.calibrate.trial`` (no science here);
heavy imports happen inside the commands.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from braintwin.cli.groups import bench_app, emit_json, eval_app

__all__ = ["register"]


def _log(message: str, fraction: float) -> None:
    typer.echo(f"[{fraction:4.0%}] {message}", err=True)


def _parse_days(text: str) -> list[float]:
    from braintwin.errors import InputError

    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise InputError(f"cannot read visit days {text!r}", "give e.g. 0,90,180") from err


def register(app: typer.Typer) -> None:
    """Add ``simulate`` (top level) and ``bench growth``."""

    @app.command("simulate")
    def simulate_cmd(
        out: Annotated[Path, typer.Argument(help="Output folder for the synthetic patients.")],
        n: Annotated[int, typer.Option("--n", help="Number of patients.")] = 1,
        seed: Annotated[int, typer.Option(help="Random seed (reproducible).")] = 0,
        visits: Annotated[str, typer.Option(help="Visit days after diagnosis.")] = "0,90,180",
        plan: Annotated[str, typer.Option(help="stupp, rt, hypo or none.")] = "stupp",
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
        from braintwin.growth.synthetic_io import brain_domain, write_synthetic_patient

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
        dom, t1, desc = brain_domain(brain, resolution)
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
                    f"d{v.day:g}: T1ce-visible (TC) {v.enhancing_ml:.1f} mL / "
                    f"FLAIR-visible (WT) {v.flair_ml:.1f} mL"
                    for v in pat.visits
                )
            )
            for flag in pat.flags:
                typer.echo(f"{case}: WARNING {flag}", err=True)
            rows.append(
                {
                    "case": case,
                    "folder": str(folder),
                    "true_parameters": p.model_dump(),
                    "flags": list(pat.flags),
                }
            )
        emit_json({"synthetic": True, "n": n, "out": str(out), "patients": rows})

    @eval_app.command("population")
    def eval_population_cmd(
        n: Annotated[int, typer.Option("--n", help="Number of virtual patients.")] = 100,
        seed: Annotated[int, typer.Option(help="Random seed (reproducible).")] = 0,
        resolution: Annotated[
            float, typer.Option(help="Grid spacing in mm (coarse grids keep it fast).")
        ] = 3.0,
        years: Annotated[float, typer.Option(help="Follow-up (years) before censoring.")] = 3.0,
        prior: Annotated[
            str,
            typer.Option(
                help="Where patients come from: 'population' (the shipped prior, fitted on "
                "post-treatment progression) or 'literature' (untreated-GBM ranges)."
            ),
        ] = "population",
        assessments: Annotated[
            str,
            typer.Option(help="'weekly' scans, or 'trial' (Stupp 2005's scan days)."),
        ] = "weekly",
    ) -> None:
        """In-silico trial against Stupp et al. 2005: PFS per arm, hazard ratio (SYNTHETIC)."""
        from braintwin.calibrate.trial import run_population

        r = run_population(
            n,
            seed=seed,
            resolution_mm=resolution,
            horizon_days=365.0 * years,
            progress=_log,
            prior=prior,
            schedule=assessments,
        )

        def months(x: float | None) -> str:
            return "not reached" if x is None else f"{x:.1f} months"

        typer.echo(f"SYNTHETIC in-silico trial, {r['n']} virtual patients treated in both arms")
        typer.echo(f"definition: {r['definition']}")
        for arm, label, pub in (
            ("stupp", "RT + temozolomide (Stupp)", 6.9),
            ("rt_alone", "RT alone", 5.0),
        ):
            a = r["arms"][arm]
            typer.echo(
                f"{label:27s} median PFS {months(a['median_pfs_months'])} (published {pub}); "
                f"{a['progressed']}/{r['n']} progressed; {r['compartment']} median "
                f"{a['tc_ml_at_start_median']:.1f} mL at start, "
                f"{a['tc_ml_at_week_4_median']:.1f} mL at week 4, "
                f"{a['tc_ml_at_week_12_median']:.1f} mL at week 12"
            )
        lo, hi = r["hazard_ratio_95ci"]
        typer.echo(
            f"hazard ratio (Cox) {r['hazard_ratio']:.2f} [{lo:.2f}, {hi:.2f}] (published 0.54); "
            f"visible tumour vanished within 4 weeks: {r['vanished_within_4_weeks']:.0%}; "
            f"{r['seconds']:.0f} s"
        )
        v = r["front_speed_mm_per_year"]
        typer.echo(
            f"untreated front speed 2·sqrt(D_w·rho): median {v['median']:.0f} mm/year "
            f"(5-95 %: {v['q05']:.0f}-{v['q95']:.0f}; literature 2-100)"
        )
        emit_json(r)

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

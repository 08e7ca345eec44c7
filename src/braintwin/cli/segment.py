"""CLI commands: ``braintwin train segment`` and ``braintwin eval segment``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from braintwin.cli.groups import emit_json, eval_app, train_app

__all__ = ["register"]


def _parse_modalities(text: str | None) -> tuple[Any, ...] | None:
    from braintwin.errors import InputError
    from braintwin.types.volume import Modality

    if not text:
        return None
    try:
        return tuple(Modality(t.strip().lower()) for t in text.split(",") if t.strip())
    except ValueError as err:
        raise InputError(f"unknown modality in {text!r}", "use t1, t1ce, t2, flair") from err


def _summary_table(result: dict[str, Any]) -> None:
    typer.echo(f"{'case':<28}{'WT':>7}{'TC':>7}{'ET':>7}{'HD95 WT':>9}{'s':>7}  flags")
    for row in result["cases"]:
        d, h = row["dice"], row["hd95_mm"]["WT"]
        hd = "-" if h is None else f"{h:.1f}"
        flags = "; ".join(row["flags"])
        typer.echo(
            f"{row['case']:<28}{d['WT']:>7.3f}{d['TC']:>7.3f}{d['ET']:>7.3f}{hd:>9}"
            f"{row['seconds']:>7.1f}  {flags}"
        )
    d = result["dice"]
    typer.echo(
        f"{'mean (n=' + str(result['n']) + ')':<28}{d['WT']:>7.3f}{d['TC']:>7.3f}{d['ET']:>7.3f}"
        f"   {result['seconds_per_case']} s/case, peak RSS {result['peak_rss_mb']} MB"
    )


def _log(message: str, fraction: float) -> None:
    typer.echo(message, err=True)


def register(app: typer.Typer) -> None:
    """Add the segmentation sub-commands to the shared ``eval`` and ``train`` groups."""

    @eval_app.command("segment")
    def eval_segment(
        data_dir: Annotated[Path, typer.Argument(help="BraTS-layout folder of case folders.")],
        method: Annotated[str, typer.Option(help="unet, kmeans or gmm.")] = "unet",
        modalities: Annotated[
            str | None,
            typer.Option(
                help="Use only these sequences, e.g. flair,t1ce (simulates missing ones)."
            ),
        ] = None,
        weights: Annotated[
            Path | None, typer.Option(help="Weights file (default: the shipped model).")
        ] = None,
        cases: Annotated[
            str | None, typer.Option(help="Comma-separated case names (default: all).")
        ] = None,
        threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
        slice_mm: Annotated[
            float | None,
            typer.Option(
                help="Degrade every sequence to this axial slice thickness first (e.g. 5: "
                "a clinical 2D protocol); the reference labels are untouched."
            ),
        ] = None,
    ) -> None:
        """Dice and HD95 (WT/TC/ET) against the *_seg files; JSON on the last line."""
        from braintwin.segment.data import list_brats_cases
        from braintwin.segment.evaluate import evaluate_cases

        if method == "unet":
            import torch

            torch.set_num_threads(threads)
        dirs = list_brats_cases(data_dir)
        if cases:
            names = {c.strip() for c in cases.split(",")}
            dirs = [d for d in dirs if d.name in names]
        from braintwin.cli.steps import step_progress

        with step_progress("eval segment") as update:  # stderr: stdout ends with the JSON
            result = evaluate_cases(
                dirs,
                method=method,
                modalities=_parse_modalities(modalities),
                weights=weights,
                progress=update,
                slice_mm=slice_mm,
            )
        _summary_table(result)
        emit_json(result)

    @train_app.command("segment")
    def train_segment(
        data_dir: Annotated[Path, typer.Argument(help="BraTS-layout folder of training cases.")],
        out: Annotated[Path, typer.Option(help="Where to write the weights (.pt).")],
        folds: Annotated[
            int, typer.Option(help="Leave-cases-out folds (1: train on all cases).")
        ] = 1,
        fold: Annotated[int, typer.Option(help="Which fold to hold out (0-based).")] = 0,
        seed: Annotated[
            int, typer.Option(help="Seed for splits, sampling, augmentation and init.")
        ] = 0,
        epochs: Annotated[
            int, typer.Option(help="Epochs (one 48³ patch per training case each).")
        ] = 60,
        threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
        init: Annotated[
            Path | None, typer.Option(help="Continue from these weights (same fold).")
        ] = None,
        lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 2e-3,
        augment: Annotated[
            str,
            typer.Option(
                help="Augmentation preset: standard, or strong (adds elastic, contrast, "
                "bias field and thick slices)."
            ),
        ] = "standard",
        modalities: Annotated[
            str | None,
            typer.Option(
                help="Train a specialist on only these sequences, e.g. flair,t1ce (the others "
                "are always zero); default: all four with modality dropout."
            ),
        ] = None,
        deep_supervision: Annotated[
            bool,
            typer.Option(
                "--deep-supervision/--no-deep-supervision",
                help="Also supervise the decoder's half- and quarter-resolution outputs "
                "(training-only heads; the saved weights are the plain network).",
            ),
        ] = False,
    ) -> None:
        """Train the segmentation network (seeded); with --folds > 1 evaluate the held-out fold."""
        from braintwin.segment.train import TrainConfig, train_segmenter

        only = _parse_modalities(modalities)
        config = TrainConfig(
            folds=folds,
            fold=fold,
            seed=seed,
            epochs=epochs,
            threads=threads,
            lr=lr,
            init=None if init is None else str(init),
            augment=augment,
            modalities=None if only is None else [m.value for m in only],
            deep_supervision=deep_supervision,
        )
        summary = train_segmenter(data_dir, out, config, log=_log)
        result: dict[str, Any] = {
            "weights": str(out),
            "train_seconds": summary["train_seconds"],
            "steps": summary["steps"],
            "final_loss": summary["final_loss"],
            "train_cases": summary["train_cases"],
            "held_out_cases": summary["held_out_cases"],
        }
        if summary["held_out_dirs"]:
            from braintwin.segment.evaluate import evaluate_cases
            from braintwin.types.volume import Modality

            held = [Path(p) for p in summary["held_out_dirs"]]
            sets: tuple[tuple[str, tuple[Modality, ...] | None], ...] = (
                ("all", None),
                ("flair_t1ce", (Modality.FLAIR, Modality.T1CE)),
            )
            if only is not None:  # a specialist is scored on its own sequences
                sets = (("_".join(m.value for m in only), only),)
            for key, mods in sets:
                ev = evaluate_cases(held, method="unet", modalities=mods, weights=out)
                typer.echo(f"held-out fold {fold}, modalities {key}:")
                _summary_table(ev)
                result[f"held_out_{key}"] = ev
        emit_json(result)

    @train_app.command("segment-ensemble")
    def train_segment_ensemble(
        data_dir: Annotated[
            Path, typer.Argument(help="BraTS-layout folder the members were trained on.")
        ],
        member: Annotated[
            list[Path], typer.Option(help="A trained weights file (give it two or more times).")
        ],
        out: Annotated[Path, typer.Option(help="Where to write the ensemble weights (.pt).")],
    ) -> None:
        """Average trained networks (e.g. the CV folds) into one weights file; pick thresholds."""
        from braintwin.segment.ensemble import combine_weights
        from braintwin.segment.thresholds import calibrate_weights

        info = combine_weights(member, out)
        thresholds = calibrate_weights(out, data_dir, _log)
        typer.echo(f"ensemble of {len(member)} networks, thresholds {thresholds}; wrote {out}")
        emit_json(
            {
                "weights": str(out),
                "members": [str(m) for m in member],
                **info,
                "thresholds": thresholds,
            }
        )

"""CLI commands: ``classify IMAGE``, ``eval classify DIR``, ``train classify DATA_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from braintwin.atomic import atomic_write
from braintwin.cli.groups import emit_json, eval_app, train_app

__all__ = ["register"]


def _progress(message: str, fraction: float) -> None:
    typer.echo(f"[{fraction:4.0%}] {message}", err=True)


def classify_cmd(
    image: Annotated[
        Path,
        typer.Argument(help="An MRI slice (JPEG/PNG/DICOM/.npy file), or a patient ID/pseudonym."),
    ],
    explanation: Annotated[
        Path | None,
        typer.Option("--explanation", "-e", help="Write the Grad-CAM overlay PNG here."),
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="Checkpoint (default: shipped).")] = None,
) -> None:
    """Classify a 2D MRI slice, or a patient's latest visit: glioma / meningioma / notumor /
    pituitary (JSON last line). For a patient the result is stored on the visit."""
    import torch

    from braintwin.classify import classify_image

    torch.set_num_threads(2)
    if not image.exists():
        _classify_patient(str(image))
        return
    pred = classify_image(image, explain=explanation is not None, weights=weights)
    typer.echo(f"{pred.label}  ({pred.probabilities[pred.label]:.3f})")
    for name, p in sorted(pred.probabilities.items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {name:<11} {p:.3f}")
    out = pred.to_dict()
    if explanation is not None and pred.explanation_png is not None:
        atomic_write(explanation, pred.explanation_png)
        typer.echo(f"explanation written to {explanation}")
        out["explanation"] = str(explanation)
    emit_json(out)


def _classify_patient(patient: str) -> None:
    from braintwin.cli.core import open_store
    from braintwin.twin import Twin

    twin = Twin.open(patient, store=open_store(None))
    record = twin.classify()
    label = record["label"]
    typer.echo(
        f"patient {twin.id}: {label} ({record['probabilities'][label]:.3f}); {record['note']}"
    )
    for name, p in sorted(record["probabilities"].items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {name:<11} {p:.3f}")
    emit_json({k: v for k, v in record.items() if k != "explanation_png_b64"})


@eval_app.command("classify")
def eval_classify(
    data_dir: Annotated[
        Path, typer.Argument(help="Folder with glioma/ meningioma/ notumor/ pituitary/.")
    ],
    robustness: Annotated[
        bool,
        typer.Option("--robustness", help="Add accuracy under noise, JPEG, rotation/flip, FGSM."),
    ] = False,
    validation_split: Annotated[
        bool,
        typer.Option(
            "--validation-split",
            help="Score only the checkpoint's deduplicated validation images of its training folder.",
        ),
    ] = False,
    weights: Annotated[Path | None, typer.Option(help="Checkpoint (default: shipped).")] = None,
    threads: Annotated[int, typer.Option(help="Torch threads for the timed inference.")] = 2,
) -> None:
    """Accuracy, macro-F1, per-class F1, confusion matrix, ECE, seconds per image (JSON last)."""
    from braintwin.classify.evaluate import evaluate_folder

    res = evaluate_folder(
        data_dir,
        weights=weights,
        robustness=robustness,
        validation_split=validation_split,
        threads=threads,
        progress=_progress,
    )
    typer.echo(
        f"n={res['n']}  accuracy={res['accuracy']:.4f}  macro-F1={res['macro_f1']:.4f}  "
        f"ECE={res['ece']:.4f}  {res['seconds_per_image'] * 1000:.1f} ms/image  ({res['subset']})"
    )
    if robustness:
        for name, value in res["robustness"].items():
            if isinstance(value, dict):
                for sub, v in value.items():
                    typer.echo(f"  {name}/{sub:<22} {v:.4f}")
            else:
                typer.echo(f"  {name:<30} {value:.4f}")
    emit_json(res)


@eval_app.command("classify-volumes")
def eval_classify_volumes(
    data_dir: Annotated[
        Path, typer.Argument(help="Folder of case folders (BraTS layout: CASE/CASE_t1ce.nii.gz).")
    ],
    label: Annotated[str, typer.Option(help="The true class of every case.")] = "glioma",
    without: Annotated[
        str,
        typer.Option(
            help="Comma-separated modalities to drop after reading (e.g. t1ce: a visit "
            "without contrast)."
        ),
    ] = "",
    weights: Annotated[Path | None, typer.Option(help="Checkpoint (default: shipped).")] = None,
) -> None:
    """Tumour type of each case exactly as `ingest` makes it: read, preprocess, segment with
    the network (expert *_seg files are ignored), classify. Per-case rows, count, JSON last."""
    import torch

    from braintwin.twin.evaluate_classify import evaluate_classification_visits

    torch.set_num_threads(2)
    res = evaluate_classification_visits(
        data_dir,
        label,
        without=[m for m in without.split(",") if m.strip()],
        weights=weights,
        progress=_progress,
    )
    for r in res["cases"]:
        ml = "-" if r["tumour_ml"] is None else f"{r['tumour_ml']:.1f} mL"
        typer.echo(
            f"{r['case']:<28} {r['label']:<11} p={r['probabilities'][r['label']]:.3f}  "
            f"P({label})={r['p_true']:.3f}  {r['modality']}  tumour {ml}"
        )
        for flag in r["flags"]:
            typer.echo(f"    ! {flag}")
    typer.echo(
        f"{res['correct']}/{res['n']} called {label}  predicted={res['predicted']}  "
        f"mean P({label})={res['mean_p_true']:.3f}  flagged={res['flagged']}  "
        f"{res['seconds_per_case']:.0f} s/case  ({res['path']})"
    )
    emit_json(res)


@train_app.command("classify")
def train_classify(
    data_dir: Annotated[
        Path, typer.Argument(help="Folder with glioma/ meningioma/ notumor/ pituitary/.")
    ],
    out: Annotated[Path, typer.Option(help="Checkpoint to write.")] = Path("classifier.pt"),
    seed: Annotated[int, typer.Option(help="Seed for the split, initialisation and batches.")] = 0,
    epochs: Annotated[int | None, typer.Option(help="Override the number of epochs.")] = None,
    threads: Annotated[int, typer.Option(help="Torch threads.")] = 2,
    lr: Annotated[
        float | None, typer.Option(help="Override the OneCycle peak learning rate.")
    ] = None,
    init: Annotated[
        Path | None, typer.Option(help="Warm start from this checkpoint (same architecture).")
    ] = None,
    skull_strip: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Fraction of images with the head rim cut away (skull-strip imitation).",
        ),
    ] = 0.0,
    twin_view: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Fraction of images shown as the twin shows a visit (skull-stripped, brain "
            "quantile-matched to the shipped intensity reference).",
        ),
    ] = 0.0,
) -> None:
    """Train the tumour-type classifier from scratch (seeded; default = the shipped run)."""
    import dataclasses

    from braintwin.classify.train import TrainConfig, train_classifier

    cfg = TrainConfig(seed=seed, threads=threads, p_skull_strip=skull_strip, p_twin_view=twin_view)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    if lr is not None:
        cfg = dataclasses.replace(cfg, lr=lr)
    if init is not None:
        cfg = dataclasses.replace(cfg, init=str(init))
    summary = train_classifier(data_dir, out, cfg, progress=_progress)
    v = summary["validation"]
    typer.echo(
        f"wrote {out}: validation accuracy {v['accuracy']:.4f}, macro-F1 {v['macro_f1']:.4f}, "
        f"ECE {v['ece_before']:.4f} -> {v['ece_after_crossfit']:.4f} (T={summary['temperature']:.2f}), "
        f"{summary['train_seconds']:.0f} s"
    )
    summary.pop("history", None)
    emit_json(summary)


def register(app: typer.Typer) -> None:
    """Add ``classify`` to the root app (eval/train sub-commands register on import)."""
    app.command("classify")(classify_cmd)

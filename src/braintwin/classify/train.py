"""Seeded training of the tumour-type classifier from a class-folder image set.

The shipped weights (``braintwin/data/classify/classifier.pt``) come from several seeded stages
of this command, each a OneCycle warm restart from the previous checkpoint (``--init``); the
exact commands, timings and validation figures are in ``braintwin/data/classify/README.md``.
Results depend slightly on the torch thread count (floating-point summation order).

Steps: decode + prepare all images once (128x128 uint8 cache), DCT-hash them and group
near-duplicates (Hamming <= 6 of 64 bits, union-find), split whole groups 80/20 stratified
(seed), train :class:`~braintwin.classify.model.SliceResNet` from scratch with AdamW + OneCycle,
label smoothing 0.1 and batched torch augmentation (optionally cutting the head's rim away on a
fraction of images, ``p_skull_strip``, so skull-stripped 3D volumes are not out of distribution),
then fit a temperature on the validation
split (Guo et al. 2017). The checkpoint records the split digest, the duplicate statistics and
the validation metrics (measured after the float16 round trip, with flip averaging).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.classify.dataset import CLASSES, load_prepared
from braintwin.classify.preprocess import DEFAULT_SIZE

__all__ = ["TrainConfig", "recalibrate", "train_classifier"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (defaults = the shipped run)."""

    seed: int = 0
    epochs: int = 16
    batch_size: int = 64
    lr: float = 2e-3  # OneCycle peak
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    val_fraction: float = 0.2
    max_hamming: int = 6
    size: int = DEFAULT_SIZE
    widths: tuple[int, ...] = (24, 32, 64, 128)
    blocks: tuple[int, ...] = (1, 2, 2)
    dropout: float = 0.2
    threads: int = 2
    init: str | None = None  # warm start: a checkpoint of the same architecture to continue
    #: Fraction of training images whose outer head rim is cut away (skull-stripping
    #: imitation, :func:`braintwin.classify.augment.random_skull_strip`); 0 = off.
    p_skull_strip: float = 0.0
    #: Fraction of training images shown as the twin shows a visit: skull-stripped and the
    #: brain quantile-matched to the reference (:func:`~braintwin.classify.augment.
    #: random_twin_view`); applied to the images not already skull-stripped; 0 = off.
    p_twin_view: float = 0.0


def _metrics(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, Any]:
    from braintwin.classify.calibration import expected_calibration_error, softmax
    from braintwin.classify.metrics import classification_metrics

    probs = softmax(logits, temperature)
    m = classification_metrics(labels, probs.argmax(axis=1), len(CLASSES))
    m["ece"] = expected_calibration_error(probs, labels)
    return m


def _crossfit_ece(logits: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """ECE after temperature scaling with 2-fold cross-fitting over duplicate groups.

    Fitting T and measuring ECE on the same images would flatter calibration, so each half of
    the validation groups is scored with the temperature fitted on the other half.
    """
    from braintwin.classify.calibration import (
        expected_calibration_error,
        fit_temperature,
        softmax,
    )

    rng = np.random.default_rng(seed + 1)
    uniq = np.unique(groups)
    fold_of = dict(zip(uniq.tolist(), rng.permutation(len(uniq)) % 2, strict=True))
    fold = np.array([fold_of[int(g)] for g in groups])
    probs = np.zeros_like(logits, dtype=np.float64)
    for f in (0, 1):
        t = fit_temperature(logits[fold != f], labels[fold != f])
        probs[fold == f] = softmax(logits[fold == f], t)
    return expected_calibration_error(probs, labels)


def train_classifier(
    data_dir: str | Path,
    out: str | Path,
    config: TrainConfig | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Train, calibrate and save a classifier; returns the summary stored in the checkpoint.

    Args:
        data_dir: folder with ``glioma/ meningioma/ notumor/ pituitary/`` image sub-folders.
        out: checkpoint path to write (atomic).
        config: hyper-parameters; ``TrainConfig()`` reproduces the shipped weights.
        progress: ``(message, fraction)`` callback, called per epoch.
    """
    # Idle OpenMP threads must sleep, not spin: on a shared 2-core machine spinning wasted
    # ~3x the CPU time per step (measured). Only effective before torch is first imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    import torch.nn.functional as F

    from braintwin.classify.augment import (
        random_augmentation,
        random_skull_strip,
        random_twin_view,
    )
    from braintwin.classify.dedup import group_near_duplicates, phash, split_groups
    from braintwin.classify.model import SliceResNet, batch_logits

    cfg = config or TrainConfig()
    t_start = time.time()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    data = load_prepared(data_dir, cfg.size, progress=progress)
    groups = group_near_duplicates(phash(data.images), cfg.max_hamming)
    sizes = np.bincount(groups)
    train_idx, val_idx = split_groups(groups, data.labels, cfg.val_fraction, cfg.seed)
    dedup = {
        "max_hamming": cfg.max_hamming,
        "n_images": len(groups),
        "n_groups": len(sizes),
        "n_duplicate_groups": int(np.sum(sizes > 1)),
        "n_images_in_duplicate_groups": int(sizes[sizes > 1].sum()),
        "largest_group": int(sizes.max()),
        "n_train": len(train_idx),
        "n_val": len(val_idx),
    }

    arch_kwargs = {"widths": list(cfg.widths), "blocks": list(cfg.blocks), "dropout": cfg.dropout}
    model = SliceResNet(n_classes=len(CLASSES), **arch_kwargs)  # type: ignore[arg-type]
    if cfg.init is not None:
        from braintwin.classify.weights import load_classifier

        model.load_state_dict(load_classifier(cfg.init).model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * (len(train_idx) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15
    )
    x_all = torch.from_numpy(data.images)
    y_all = torch.from_numpy(data.labels)
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(train_idx)
        losses = []
        for b in range(len(train_idx) // cfg.batch_size):  # drop the ragged last batch (BN)
            idx = torch.from_numpy(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            x = x_all[idx][:, None].float() / 255.0
            if cfg.p_skull_strip > 0:
                x = random_skull_strip(x, gen, p=cfg.p_skull_strip)
            if cfg.p_twin_view > 0:
                x = random_twin_view(x, gen, p=cfg.p_twin_view)
            x = random_augmentation(x, gen)
            loss = F.cross_entropy(model(x), y_all[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        val = _metrics(batch_logits(model, data.images[val_idx]), data.labels[val_idx], 1.0)
        history.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_accuracy": val["accuracy"]}
        )
        if progress is not None:
            progress(
                f"epoch {epoch + 1}/{cfg.epochs} loss {np.mean(losses):.3f} "
                f"val acc {val['accuracy']:.4f} f1 {val['macro_f1']:.4f} "
                f"({time.time() - t_start:.0f} s)",
                (epoch + 1) / cfg.epochs,
            )

    base: dict[str, Any] = {
        "config": asdict(cfg),
        "dedup": dedup,
        "history": history,
        "train_seconds": time.time() - t_start,
        "torch_threads": cfg.threads,
    }
    return _calibrate_and_save(model, data.images, data.labels, groups, val_idx, base, out)


def _calibrate_and_save(
    model: Any,
    images: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    val_idx: np.ndarray,
    base: dict[str, Any],
    out: str | Path,
) -> dict[str, Any]:
    """Fit the temperature on the validation split, record metrics, write the checkpoint.

    Metrics use the float16-rounded weights that actually ship, with the same inference as
    deployment (``batch_logits``, left-right flip averaging).
    """
    from braintwin.classify.calibration import fit_temperature
    from braintwin.classify.model import batch_logits
    from braintwin.classify.weights import fp16_roundtrip, save_classifier

    cfg = base["config"]
    logits = batch_logits(fp16_roundtrip(model), images[val_idx])
    y_val = labels[val_idx]
    temperature = fit_temperature(logits, y_val)
    before = _metrics(logits, y_val, 1.0)
    after = _metrics(logits, y_val, temperature)
    summary = dict(base)
    summary.update(
        {
            "val_indices_sha": _index_digest(val_idx),
            "temperature": temperature,
            "validation": {
                "note": "deduplicated validation split of the Training folder, not a held-out test",
                "n": len(val_idx),
                "accuracy": before["accuracy"],
                "macro_f1": before["macro_f1"],
                "per_class_f1": before["per_class_f1"],
                "confusion_matrix": before["confusion_matrix"],
                "ece_before": before["ece"],
                "ece_after_in_sample": after["ece"],
                "ece_after_crossfit": _crossfit_ece(logits, y_val, groups[val_idx], cfg["seed"]),
            },
        }
    )
    save_classifier(
        out,
        model,
        arch="slice_resnet",
        arch_kwargs={
            "widths": list(cfg["widths"]),
            "blocks": list(cfg["blocks"]),
            "dropout": cfg["dropout"],
        },
        classes=CLASSES,
        size=cfg["size"],
        temperature=temperature,
        info=summary,
    )
    return summary


def recalibrate(
    data_dir: str | Path, checkpoint: str | Path, out: str | Path | None = None
) -> dict[str, Any]:
    """Re-fit the temperature and validation metrics of an existing checkpoint.

    Rebuilds the seeded deduplicated split from the checkpoint's config and runs the same
    final step as :func:`train_classifier` (useful after changing inference, e.g. adding
    flip averaging, without re-training). Writes to ``out`` (default: in place).
    """
    from braintwin.classify.dedup import group_near_duplicates, phash, split_groups
    from braintwin.classify.weights import load_classifier

    clf = load_classifier(checkpoint)
    cfg = clf.info["config"]
    data = load_prepared(data_dir, clf.size)
    groups = group_near_duplicates(phash(data.images), cfg["max_hamming"])
    _, val_idx = split_groups(groups, data.labels, cfg["val_fraction"], cfg["seed"])
    base = {
        k: v
        for k, v in clf.info.items()
        if k in ("config", "dedup", "history", "train_seconds", "torch_threads")
    }
    return _calibrate_and_save(
        clf.model, data.images, data.labels, groups, val_idx, base, out or checkpoint
    )


def _index_digest(idx: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]

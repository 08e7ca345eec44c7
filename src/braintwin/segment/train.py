"""Seeded patch-based training of the segmentation network, with leave-cases-out folds.

Recipe: all cases are prepared once at ~2 mm (:func:`braintwin.segment.data.prepare_input`);
each step draws ``batch`` 48³ patches, one third centred on a tumour voxel and the rest on a
random brain voxel (foreground over-sampling as in nnU-Net, Isensee et al. 2021), augments them
(:class:`RandomAugment`, with modality dropout; the ``"strong"`` preset of
:data:`AUGMENTATIONS` adds elastic warps, contrast, bias fields and simulated thick slices) and
minimises Dice + BCE on the three region channels (MONAI ``DiceLoss`` + ``BCEWithLogitsLoss``,
sigmoid outputs; :mod:`braintwin.segment.supervision`), optionally deep-supervised. AdamW with
linear warm-up then cosine decay. An "epoch" is one patch per training case. Everything random
comes from ``seed``. Afterwards the per-region probability thresholds are chosen on the
training cases (:mod:`braintwin.segment.thresholds`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import ConfigurationError
from braintwin.segment.data import (
    CHANNELS,
    brain_mask_of,
    list_brats_cases,
    load_brats_case,
    prepare_input,
    prepare_target,
)

__all__ = ["TrainConfig", "fold_split", "kept_channels", "train_segmenter", "warmup_cosine"]

Log = Callable[[str, float], None]


@dataclass
class TrainConfig:
    """Training settings (all recorded in the weights file)."""

    folds: int = 1
    fold: int = 0
    seed: int = 0
    epochs: int = 60
    batch: int = 2
    lr: float = 2e-3
    weight_decay: float = 1e-5
    warmup_steps: int = 20
    p_tumour: float = 0.33
    threads: int = 2
    network: str = "segresnet"
    network_kwargs: dict[str, Any] = field(default_factory=lambda: {"init_filters": 8})
    #: Start from these weights (a second training stage) instead of a random initialisation:
    #: a single network of the same fold, or a fold ensemble (the member that held out this
    #: fold's cases is taken, so a shipped ensemble can be trained further without leaking).
    init: str | None = None
    #: Augmentation preset (:data:`braintwin.segment.augment.AUGMENTATIONS`).
    augment: str = "standard"
    #: Sequences the network is trained on (a specialist for that set: the others are always
    #: zero, as at inference without them); None trains on all four with modality dropout.
    modalities: list[str] | None = None
    #: Also supervise the decoder's half- and quarter-resolution outputs through training-only
    #: heads (:mod:`braintwin.segment.supervision`; "segresnet" only). The saved weights are
    #: the plain network either way.
    deep_supervision: bool = False


def kept_channels(modalities: list[str] | None) -> tuple[bool, ...] | None:
    """Channel mask of a specialist's sequences (None: all four, with modality dropout)."""
    if modalities is None:
        return None
    from braintwin.types.volume import Modality

    try:
        wanted = {Modality(m) for m in modalities}
    except ValueError as err:
        raise ConfigurationError(
            f"unknown sequence in {modalities}", "use t1, t1ce, t2, flair"
        ) from err
    if not wanted or not wanted <= set(CHANNELS):
        raise ConfigurationError(
            f"cannot train on {modalities}", "name one or more of t1, t1ce, t2, flair"
        )
    return tuple(m in wanted for m in CHANNELS)


def warmup_cosine(step: int, steps: int, warmup: int, lr: float) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup`` steps, then cosine decay to 0."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * t))


def fold_split(n: int, folds: int, fold: int, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices) for leave-cases-out fold ``fold`` of ``folds``.

    Cases are shuffled with ``seed`` and dealt round-robin into folds; ``folds == 1`` trains
    on everything and holds nothing out.
    """
    if folds < 1 or not 0 <= fold < folds:
        raise ConfigurationError(f"fold {fold} of {folds} does not exist", "use 0 <= fold < folds")
    if folds > n:
        raise ConfigurationError(f"{folds} folds for {n} cases", "use at most one fold per case")
    if folds == 1:
        return list(range(n)), []
    order = np.random.default_rng(seed).permutation(n)
    held = sorted(int(i) for k, i in enumerate(order) if k % folds == fold)
    return [i for i in range(n) if i not in held], held


def _load(cases: list[Path], log: Log | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for i, case in enumerate(cases):
        vols, seg = load_brats_case(case)
        if seg is None:
            raise ConfigurationError(f"training case {case.name} has no *_seg file")
        arrays = {m: v.data for m, v in vols.items()}
        brain = brain_mask_of(list(arrays.values()))
        ref = next(iter(vols.values()))
        prep = prepare_input(arrays, brain, ref.spacing)
        y = prepare_target(np.asarray(seg.data), prep)
        inside = np.argwhere(np.any(prep.x != 0, axis=0))
        out.append((prep.x, y, inside))
        if log:
            log(f"loaded case {i + 1}/{len(cases)} {prep.x.shape[1:]}", 0.0)
    return out


def _patch(
    x: np.ndarray,
    y: np.ndarray,
    inside: np.ndarray,
    size: int,
    rng: np.random.Generator,
    p_tumour: float,
) -> tuple[np.ndarray, np.ndarray]:
    tumour = np.argwhere(y[0] > 0.5) if rng.random() < p_tumour else inside
    if tumour.size == 0:
        tumour = inside
    centre = tumour[int(rng.integers(len(tumour)))]
    start = centre - size // 2
    box = np.stack([start, start + size], axis=1)
    from braintwin.segment.data import extract

    return extract(x, box), extract(y, box)


def _initial_state(path: Path, held_out: list[str]) -> dict[str, Any]:
    """The float32 state of ``path`` for the fold that holds out ``held_out``.

    A fold ensemble contributes the member that never saw those cases; anything else must
    have been trained on exactly this fold.
    """
    import torch

    from braintwin.checkpoint import cast_floats
    from braintwin.segment.network import read_weights

    start = read_weights(path)
    if "members" in start:
        members = start["info"].get("ensemble_of", [])
        for state, member in zip(start["members"], members, strict=False):
            if list(member.get("held_out_cases") or []) == held_out:
                return cast_floats(state, torch.float32)
        problem = "no member of the --init ensemble held out this fold's cases"
    else:
        if list(start["info"].get("held_out_cases", [])) == held_out:
            return dict(start["state_dict"])
        problem = "the --init weights were trained on a different fold"
    raise ConfigurationError(
        problem, "continue a fold only from weights of the same --folds/--fold/--seed"
    )


def train_segmenter(
    data_dir: Path, out: Path, config: TrainConfig, log: Log | None = None
) -> dict[str, Any]:
    """Train on the BraTS cases of ``data_dir`` (minus the held-out fold); save to ``out``.

    Returns a summary: cases used / held out, steps, seconds, final loss. Held-out cases are
    evaluated by the caller with :func:`braintwin.segment.evaluate.evaluate_cases`.
    """
    import torch

    from braintwin.segment.augment import AUGMENTATIONS, RandomAugment
    from braintwin.segment.infer import PATCH
    from braintwin.segment.network import build_network, save_model
    from braintwin.segment.supervision import DeepSupervised, training_loss

    t0 = time.perf_counter()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    cases = list_brats_cases(data_dir)
    train_idx, held_idx = fold_split(len(cases), config.folds, config.fold, config.seed)
    if config.augment not in AUGMENTATIONS:
        raise ConfigurationError(
            f"unknown augmentation {config.augment!r}", f"choose one of {sorted(AUGMENTATIONS)}"
        )
    fixed = kept_channels(config.modalities)  # a bad sequence name fails before the data is read
    if config.deep_supervision and config.network != "segresnet":
        raise ConfigurationError(
            f"deep supervision is implemented for segresnet, not {config.network!r}",
            "train segresnet, or leave deep supervision off",
        )
    data = _load([cases[i] for i in train_idx], log)
    model = build_network(config.network, **config.network_kwargs)
    if config.init is not None:
        model.load_state_dict(_initial_state(Path(config.init), [cases[i].name for i in held_idx]))
    # Deep supervision trains the network inside a wrapper with extra heads; ``model`` (the
    # network itself) is what is saved.
    trained = DeepSupervised(model) if config.deep_supervision else model
    trained.train()
    opt = torch.optim.AdamW(trained.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = training_loss(config.deep_supervision)

    augment = RandomAugment(rng, **AUGMENTATIONS[config.augment], fixed_channels=fixed)
    steps = max(1, math.ceil(config.epochs * len(data) / config.batch))

    def lr_at(step: int) -> float:
        return warmup_cosine(step, steps, config.warmup_steps, config.lr)

    running = float("nan")
    for step in range(steps):
        xs, ys = [], []
        for _ in range(config.batch):
            x, y, inside = data[int(rng.integers(len(data)))]
            px, py = _patch(x, y, inside, PATCH[0], rng, config.p_tumour)
            tx, ty = augment(torch.from_numpy(px), torch.from_numpy(py))
            xs.append(tx)
            ys.append(ty.clamp(0, 1))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(trained(torch.stack(xs)), torch.stack(ys))
        loss.backward()
        opt.step()
        value = float(loss.detach())
        running = value if math.isnan(running) else 0.95 * running + 0.05 * value
        if log and (step % 25 == 0 or step == steps - 1):
            log(
                f"step {step + 1}/{steps} loss {running:.4f} lr {lr_at(step):.2e} "
                f"{time.perf_counter() - t0:.0f}s",
                (step + 1) / steps,
            )
    seconds = time.perf_counter() - t0
    info = {
        "config": asdict(config),
        "channels": [m.value for m in CHANNELS],
        "train_cases": [cases[i].name for i in train_idx],
        "held_out_cases": [cases[i].name for i in held_idx],
        "steps": steps,
        "train_seconds": round(seconds, 1),
        "final_loss": round(running, 4),
        "torch": str(torch.__version__),
    }
    save_model(model, out, config.network, config.network_kwargs, info)
    from braintwin.segment.thresholds import calibrate_weights

    info["thresholds"] = calibrate_weights(out, data_dir, log)
    return {**info, "held_out_dirs": [str(cases[i]) for i in held_idx]}

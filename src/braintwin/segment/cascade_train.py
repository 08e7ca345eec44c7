"""Training and cross-validation of the 1 mm cascade (:mod:`braintwin.segment.cascade`).

Inputs are **out-of-fold** first-stage probabilities: the cache of
:mod:`braintwin.segment.crossval`, where each case was predicted (4 mirrored flips, the shipped
TTA) only by the ensemble member that never saw it, for all four sequences and for FLAIR + T1ce
only. So the cascade learns to correct first-stage predictions like those it meets on unseen
cases, not the over-confident ones of its training cases (stacking, Wolpert 1992).

Cross-validation uses the same three folds as the shipped first stage: the cascade of fold K
trains on the other folds' cases and is scored on fold K's. One caveat, said wherever the
numbers are quoted: the out-of-fold first-stage probabilities of the other folds' cases come
from members that did train on fold K's cases, so fold K is not entirely unseen by the
cascade's inputs (it never sees fold K's images or labels). ``--fold all`` trains the shipped
cascade on all 14 cases with the recipe the folds used.

Recipe: each step draws ``batch`` 48³ patches at 1 mm from the cases' tumour boxes, half
centred on a reference tumour-core voxel (whole tumour when there is no core) and half
anywhere in the box; with probability ``p_pair`` the FLAIR + T1ce version of the case is used
(its T1/T2 channels are zero and its probabilities come from the first stage run on those two
sequences: modality dropout with matching inputs). Mirroring on every axis, per-channel
intensity scale/shift, gamma and noise on the sequences (:mod:`braintwin.segment.augment`).
Dice + BCE per region (as the first stage), AdamW, warm-up then cosine decay; seeded.

Run: ``python -m braintwin.segment.cascade_train DATA CACHE OUT.pt --fold K`` (K = 0, 1, 2 or
``all``), then ``python -m braintwin.segment.cascade_train DATA CACHE TABLE.json --table
fold0.pt.json fold1.pt.json fold2.pt.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from braintwin.errors import InputError
from braintwin.segment.cascade import (
    Cascade,
    CascadeNet,
    build_cascade,
    cascade_box,
    cascade_input,
    refine_probabilities,
    save_cascade,
)
from braintwin.segment.crossval import load_cached, upsample_cached
from braintwin.segment.cvcompare import REGIONS, folds_of, score_labels, summarise
from braintwin.segment.data import (
    CHANNELS,
    brain_mask_of,
    extract,
    load_brats_case,
    zscore_in_mask,
)
from braintwin.segment.postprocess import SHIPPED, PostProcessing, labels_from_probabilities
from braintwin.segment.regions import labels_to_regions
from braintwin.segment.train import warmup_cosine
from braintwin.types.volume import Modality

__all__ = ["CascadeConfig", "FullCase", "Sample", "evaluate_case", "load_full", "train_cascade"]

TAGS: dict[str, tuple[Modality, ...] | None] = {
    "all": None,
    "flair_t1ce": (Modality.FLAIR, Modality.T1CE),
}
#: First-stage flips whose out-of-fold probabilities the cascade learns from (the shipped TTA).
FLIPS_KEY = "p4"


@dataclass
class CascadeConfig:
    """Training settings (recorded in the weights file)."""

    steps: int = 1000
    batch: int = 2
    patch: int = 48
    lr: float = 1e-3
    weight_decay: float = 1e-5
    warmup_steps: int = 20
    p_core: float = 0.5
    p_pair: float = 0.3
    seed: int = 0
    threads: int = 1
    init_filters: int = 8
    relative: bool = False
    #: "dice+bce" (as the first stage) or "bce" (calibrated at 0.5; Dice favours over-segmenting)
    loss: str = "dice+bce"


@dataclass
class FullCase:
    """One case on its own grid: sequences, brain, out-of-fold probabilities, reference."""

    name: str
    tag: str
    arrays: dict[Modality, np.ndarray]
    brain: np.ndarray
    spacing: tuple[float, float, float]
    probs: np.ndarray
    ref: np.ndarray
    thresholds: dict[str, float]


@dataclass
class Sample:
    """A training crop: (7, crop) inputs and (3, crop) region targets."""

    x: np.ndarray
    y: np.ndarray
    core: np.ndarray


def load_full(
    data_dir: Path, cache_dir: Path, name: str, tag: str, thresholds: dict[str, float]
) -> FullCase:
    """Load a case and upsample its cached out-of-fold probabilities with the shipped code."""
    vols, seg = load_brats_case(data_dir / name, TAGS[tag])
    if seg is None:
        raise InputError(f"case folder {name} has no *_seg reference")
    arrays = {m: np.asarray(v.data) for m, v in vols.items()}
    brain = brain_mask_of(list(arrays.values()))
    cached = load_cached(cache_dir / f"{name}.{tag}.npz")
    return FullCase(
        name=name,
        tag=tag,
        arrays=arrays,
        brain=brain,
        spacing=next(iter(vols.values())).spacing,
        probs=upsample_cached(cached, FLIPS_KEY, brain),
        ref=np.asarray(seg.data),
        thresholds=thresholds,
    )


def sample_of(case: FullCase, relative: bool = False) -> Sample | None:
    """The case's training crop (None when the first stage found no tumour)."""
    box = cascade_box(case.probs[0], case.spacing)
    if box is None:
        return None
    zs = {m: zscore_in_mask(a, case.brain) for m, a in case.arrays.items()}
    x = cascade_input(zs, case.probs, box, relative)
    y = labels_to_regions(extract(case.ref, box)).astype(np.float32)
    core = np.argwhere(y[1] > 0) if y[1].any() else np.argwhere(y[0] > 0)
    return Sample(x=x, y=y, core=core)


def _patch(
    s: Sample, size: int, rng: np.random.Generator, p_core: float
) -> tuple[np.ndarray, np.ndarray]:
    shape = np.asarray(s.x.shape[1:])
    if s.core.size and rng.random() < p_core:
        centre = s.core[int(rng.integers(len(s.core)))]
    else:
        centre = np.asarray([int(rng.integers(n)) for n in shape])
    start = centre - size // 2
    box = np.stack([start, start + size], axis=1)
    return extract(s.x, box), extract(s.y, box)


def _augment(
    x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    from braintwin.segment.augment import flip, gamma, intensity

    axes = tuple(a for a in range(3) if rng.random() < 0.5)
    x, y = flip(x, axes), flip(y, axes)
    n = len(CHANNELS)
    img = x[:n]
    if rng.random() < 0.5:
        img = intensity(
            img,
            torch.from_numpy(rng.uniform(0.9, 1.1, n)).float(),
            torch.from_numpy(rng.uniform(-0.1, 0.1, n)).float(),
        )
    if rng.random() < 0.3:
        img = gamma(img, torch.from_numpy(rng.uniform(0.7, 1.5, n)).float())
    if rng.random() < 0.2:
        noise = torch.from_numpy(rng.standard_normal(img.shape).astype(np.float32))
        img = torch.where(img != 0, img + noise * float(rng.uniform(0.0, 0.1)), img)
    return torch.cat([img, x[n:]]), y


def train_cascade(
    samples: dict[str, list[Sample]], config: CascadeConfig, log: Any = print
) -> CascadeNet:
    """Train a cascade on ``samples`` (tag -> crops; "all" and optionally "flair_t1ce")."""
    from braintwin.segment.supervision import RegionLoss

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_cascade(init_filters=config.init_filters, relative=config.relative)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = RegionLoss() if config.loss == "dice+bce" else torch.nn.BCEWithLogitsLoss()
    t0 = time.perf_counter()
    running = float("nan")
    full, pair = samples["all"], samples.get("flair_t1ce", [])
    for step in range(config.steps):
        lr = warmup_cosine(step, config.steps, config.warmup_steps, config.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        xs, ys = [], []
        for _ in range(config.batch):
            pool = pair if pair and rng.random() < config.p_pair else full
            px, py = _patch(pool[int(rng.integers(len(pool)))], config.patch, rng, config.p_core)
            tx, ty = _augment(torch.from_numpy(px), torch.from_numpy(py), rng)
            xs.append(tx)
            ys.append(ty)
        opt.zero_grad(set_to_none=True)
        logits = model(torch.stack(xs))
        target = torch.stack(ys)
        loss = loss_fn(logits, target)
        loss.backward()
        opt.step()
        v = float(loss.detach())
        running = v if math.isnan(running) else 0.95 * running + 0.05 * v
        if step % 50 == 0 or step == config.steps - 1:
            log(
                f"step {step + 1}/{config.steps} loss {running:.4f} {time.perf_counter() - t0:.0f}s"
            )
    return model.eval()


def evaluate_case(case: FullCase, cascade: Cascade) -> dict[str, dict[str, Any]]:
    """Scores of the first stage alone and with the cascade, with and without ET refinement."""
    # The images the shipped post-processing reads (ET from T1ce, the WT edge from FLAIR).
    t1ce, flair = case.arrays.get(Modality.T1CE), case.arrays.get(Modality.FLAIR)
    t1ce_z = None if t1ce is None else zscore_in_mask(t1ce, case.brain)
    flair_z = None if flair is None else zscore_in_mask(flair, case.brain)
    refined = refine_probabilities(case.probs, case.arrays, case.brain, case.spacing, cascade)
    variants: dict[str, tuple[np.ndarray, dict[str, float], PostProcessing]] = {
        "first stage": (case.probs, case.thresholds, PostProcessing()),
        "first stage + ET refinement (shipped)": (case.probs, case.thresholds, SHIPPED),
        "cascade": (refined, cascade.thresholds, PostProcessing()),
        "cascade + ET refinement": (refined, cascade.thresholds, SHIPPED),
    }
    return {
        name: score_labels(
            labels_from_probabilities(
                p, thr, case.spacing, t1ce_z=t1ce_z, flair_z=flair_z, params=pp
            ),
            case.ref,
            case.spacing,
        )
        for name, (p, thr, pp) in variants.items()
    }


def _cases(cache_dir: Path, fold: str) -> tuple[list[tuple[str, dict[str, float]]], list[str]]:
    """(training cases with thresholds, held-out case names) for ``fold``."""
    rec = json.loads((cache_dir / "folds.json").read_text())
    everything = folds_of(cache_dir)
    if fold == "all":
        return everything, []
    held = list(rec["members"][int(fold)]["held_out"])
    return [(c, t) for c, t in everything if c not in held], held


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train / cross-validate the 1 mm cascade")
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("cache_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--fold", default="0", help="0, 1, 2 (the first stage's folds) or all")
    ap.add_argument("--steps", type=int, default=CascadeConfig.steps)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p-core", type=float, default=CascadeConfig.p_core)
    ap.add_argument("--relative", action="store_true", help="case-relative intensities")
    ap.add_argument("--loss", choices=("dice+bce", "bce"), default=CascadeConfig.loss)
    ap.add_argument("--table", nargs="+", type=Path, help="combine fold results into a table")
    ap.add_argument(
        "--evaluate", action="store_true", help="score the held-out cases with OUT; no training"
    )
    args = ap.parse_args(argv)
    if args.table:
        _table(args.table, args.out)
        return
    torch.set_num_threads(args.threads)
    train, held = _cases(args.cache_dir, args.fold)
    if not args.evaluate:
        _train(args, train, held)
    _evaluate(args, held)


def _train(
    args: argparse.Namespace, train: list[tuple[str, dict[str, float]]], held: list[str]
) -> None:
    config = CascadeConfig(
        steps=args.steps,
        threads=args.threads,
        seed=args.seed,
        p_core=args.p_core,
        relative=args.relative,
        loss=args.loss,
    )
    samples: dict[str, list[Sample]] = {tag: [] for tag in TAGS}
    for name, thr in train:
        for tag in TAGS:
            s = sample_of(load_full(args.data_dir, args.cache_dir, name, tag, thr), config.relative)
            if s is not None:
                samples[tag].append(s)
        print("loaded", name, flush=True)
    t0 = time.perf_counter()
    model = train_cascade(samples, config, log=lambda m: print(m, flush=True))
    info: dict[str, Any] = {
        "config": asdict(config),
        "first_stage_flips": FLIPS_KEY,
        "train_cases": [n for n, _ in train],
        "held_out_cases": held,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "thresholds": dict.fromkeys(REGIONS, 0.5),
        "torch": str(torch.__version__),
    }
    kwargs = {"init_filters": config.init_filters, "relative": config.relative}
    save_cascade(model, args.out, kwargs, info)


def _evaluate(args: argparse.Namespace, held: list[str]) -> None:
    from braintwin.segment.cascade import load_cascade

    cascade = load_cascade(args.out)  # the saved (float16) weights, as shipped
    info = cascade.info
    thresholds = dict(_cases(args.cache_dir, "all")[0])
    scores: dict[str, Any] = {}
    for name in held:
        for tag in TAGS:
            case = load_full(args.data_dir, args.cache_dir, name, tag, thresholds[name])
            scores[f"{name}.{tag}"] = evaluate_case(case, cascade)
            print(name, tag, {k: v["dice"] for k, v in scores[f"{name}.{tag}"].items()}, flush=True)
    Path(f"{args.out}.json").write_text(json.dumps({"info": info, "scores": scores}, indent=1))


def _table(paths: list[Path], out: Path) -> None:
    """Mean Dice / HD95 per variant and modality set over every held-out case of the folds."""
    merged: dict[str, Any] = {}
    for p in paths:
        merged.update(json.loads(p.read_text())["scores"])
    table: dict[str, Any] = {}
    for tag in TAGS:
        rows = {k: v for k, v in merged.items() if k.endswith(f".{tag}")}
        variants = next(iter(rows.values())).keys()
        table[tag] = {
            v: {
                **summarise([r[v] for r in rows.values()]),
                "cases": {k.rsplit(".", 1)[0]: r[v]["dice"] for k, r in rows.items()},
            }
            for v in variants
        }
        for v, row in table[tag].items():
            print(tag, v, row["dice"], row.get("hd95_mm"))
    out.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()

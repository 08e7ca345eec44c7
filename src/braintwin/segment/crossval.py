"""Cross-validated predictions of a shipped fold ensemble, cached once per case.

The shipped ensemble's members are the networks of a leave-cases-out cross-validation; each
member's ``info`` names the cases it never saw. Letting every member predict only its own
held-out cases gives one honest out-of-fold prediction per case. The network-grid (2 mm)
probabilities are cached per case (without and with mirrored test-time augmentation; for all
four sequences and FLAIR + T1ce, or for a specialist's own set only), so post-processing
variants can be compared on the same folds without running a network again
(:mod:`braintwin.segment.cvcompare`).

Run: ``python -m braintwin.segment.crossval DATA_DIR CACHE_DIR [--weights W] [--slice-mm 5]``
(``--slice-mm``: every sequence degraded to that axial slice thickness first, recorded in
``folds.json`` so that :mod:`braintwin.segment.cvcompare` degrades the same way).
``--average A B`` writes CACHE_DIR as the mean of two or more caches made with the same folds
instead: the cross-validation of the ensemble of their fold members, without running a network.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import ConfigurationError, InputError
from braintwin.segment.data import brain_mask_of, load_brats_case, prepare_input
from braintwin.segment.evaluate import thicken
from braintwin.types.volume import Modality

__all__ = [
    "FoldMember",
    "average_caches",
    "cache_case",
    "cache_folds",
    "fold_members",
    "load_cached",
    "upsample_cached",
]

#: Flip combinations of the mirrored test-time augmentation that is cached beside no-TTA.
TTA_FLIPS = 8


@dataclass(frozen=True)
class FoldMember:
    """One member of a fold ensemble: its index, held-out cases and own thresholds."""

    index: int
    held_out: tuple[str, ...]
    thresholds: dict[str, float]


def fold_members(payload: dict[str, Any]) -> list[FoldMember]:
    """The members of an ensemble weights dictionary with the cases each never saw."""
    members = payload.get("info", {}).get("ensemble_of")
    if "members" not in payload or not members:
        raise ConfigurationError(
            "cross-validated predictions need a fold ensemble weights file",
            "use the shipped segresnet8x3.pt or one made by `braintwin train segment-ensemble`",
        )
    out = []
    for i, m in enumerate(members):
        held = tuple(m.get("held_out_cases") or ())
        if not held:
            raise ConfigurationError(f"ensemble member {i} names no held-out cases")
        thr = dict(m.get("thresholds") or dict.fromkeys(("WT", "TC", "ET"), 0.5))
        out.append(FoldMember(i, held, thr))
    seen = [c for m in out for c in m.held_out]
    if len(seen) != len(set(seen)):
        raise ConfigurationError("ensemble members' held-out cases overlap: not a CV")
    return out


def _member_model(payload: dict[str, Any], index: int) -> Any:
    import torch

    from braintwin.checkpoint import cast_floats
    from braintwin.segment.network import build_network

    net = build_network(payload["network"], **payload["kwargs"])
    net.load_state_dict(cast_floats(payload["members"][index], torch.float32))
    return net.eval()


def cache_case(
    case_dir: Path,
    model: Any,
    modalities: tuple[Modality, ...] | None,
    out: Path,
    slice_mm: float | None = None,
) -> dict[str, float]:
    """Predict one case without and with TTA on the network grid; write ``out`` (.npz)."""
    from braintwin.segment.infer import _forward

    vols, seg = load_brats_case(case_dir, modalities)
    if seg is None:
        raise InputError(f"case folder {case_dir.name} has no *_seg reference")
    vols = thicken(vols, slice_mm)
    arrays = {m: np.asarray(v.data) for m, v in vols.items()}
    brain = brain_mask_of(list(arrays.values()))
    prep = prepare_input(arrays, brain, next(iter(vols.values())).spacing)
    # The flips one by one, so that the no-TTA, 4-flip and 8-flip means come from one pass.
    import torch

    from braintwin.segment.infer import FLIP_SETS

    x = torch.from_numpy(prep.x).unsqueeze(0)
    probs, secs = [], []
    for axes in FLIP_SETS[:TTA_FLIPS]:
        t0 = time.perf_counter()
        dims = [a + 2 for a in axes]
        with torch.no_grad():
            p = torch.sigmoid(_forward(model, torch.flip(x, dims) if dims else x))
        probs.append((torch.flip(p, dims) if dims else p)[0].numpy())
        secs.append(time.perf_counter() - t0)
    stack = np.stack(probs)
    np.savez_compressed(
        out,
        p1=stack[0].astype(np.float16),
        p4=stack[:4].mean(0).astype(np.float16),
        p8=stack.mean(0).astype(np.float16),
        box=prep.box,
        factors=np.asarray(prep.factors),
        shape=np.asarray(prep.shape),
    )
    return {"seconds_1": round(secs[0], 2), "seconds_tta": round(sum(secs), 2)}


def load_cached(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one cached case (``p1``, ``p4``, ``p8``, ``box``, ``factors``, ``shape``)."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def upsample_cached(cached: dict[str, np.ndarray], key: str, brain: np.ndarray) -> np.ndarray:
    """Cached network-grid probabilities ``key`` on the case's own grid (the shipped upsampling)."""
    import torch

    from braintwin.segment.data import Prepared
    from braintwin.segment.infer import upsample

    shape = tuple(int(s) for s in cached["shape"])
    f = tuple(int(v) for v in cached["factors"])
    prep = Prepared(np.zeros(0), cached["box"], f, shape, ())  # type: ignore[arg-type]
    return upsample(torch.from_numpy(cached[key].astype(np.float32))[None], prep, brain)


def cache_folds(
    data_dir: Path,
    cache_dir: Path,
    weights: Path,
    slice_mm: float | None = None,
) -> dict[str, Any]:
    """Cache every member's predictions of its held-out cases; returns the timing record.

    The general model is cached with all four sequences and with FLAIR + T1ce (the common
    clinical pair); a specialist with its own sequences only.
    """
    from braintwin.segment.network import read_weights, trained_modalities

    payload = read_weights(weights)
    only = trained_modalities(payload["info"])
    modality_sets: dict[str, tuple[Modality, ...] | None] = (
        {"all": None, "flair_t1ce": (Modality.FLAIR, Modality.T1CE)}
        if only is None
        else {"_".join(only): tuple(Modality(m) for m in only)}
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "members": [],
        "timing": {},
        "slice_mm": slice_mm,
        "sets": list(modality_sets),
    }
    for member in fold_members(payload):
        model = _member_model(payload, member.index)
        record["members"].append(
            {
                "index": member.index,
                "held_out": list(member.held_out),
                "thresholds": member.thresholds,
            }
        )
        for case in member.held_out:
            for tag, mods in modality_sets.items():
                out = cache_dir / f"{case}.{tag}.npz"
                if out.is_file():
                    continue
                record["timing"][f"{case}.{tag}"] = cache_case(
                    data_dir / case, model, mods, out, slice_mm
                )
                print(case, tag, record["timing"][f"{case}.{tag}"], flush=True)
    (cache_dir / "folds.json").write_text(json.dumps(record, indent=1))
    return record


def average_caches(sources: list[Path], cache_dir: Path) -> int:
    """Write the mean probabilities of caches made on the same folds; returns cases written.

    Averaging the out-of-fold probabilities of two fold ensembles is exactly the out-of-fold
    prediction of their union (each case still predicted only by networks that never saw it).
    """
    if len(sources) < 2:
        raise ConfigurationError("--average needs two or more cache folders", "name each one")
    first = sources[0]
    folds = json.loads((first / "folds.json").read_text())
    for other in sources[1:]:
        held = json.loads((other / "folds.json").read_text())
        if [m["held_out"] for m in held["members"]] != [m["held_out"] for m in folds["members"]]:
            raise InputError(
                f"{other} was cached with other folds than {first}",
                "average only caches of ensembles trained on the same folds",
            )
    cache_dir.mkdir(parents=True, exist_ok=True)
    folds["averaged"] = [str(s) for s in sources]
    (cache_dir / "folds.json").write_text(json.dumps(folds, indent=1))
    written = 0
    for path in sorted(first.glob("*.npz")):
        parts = [load_cached(src / path.name) for src in sources]
        if any(not np.array_equal(p["box"], parts[0]["box"]) for p in parts):
            raise InputError(f"{path.name}: the caches cropped this case differently", "re-cache")
        out = dict(parts[0])
        for key in ("p1", "p4", "p8"):
            mean = np.mean([p[key].astype(np.float32) for p in parts], axis=0)
            out[key] = mean.astype(parts[0][key].dtype)
        np.savez_compressed(cache_dir / path.name, **out)  # type: ignore[arg-type]
        written += 1
    return written


def main(argv: list[str] | None = None) -> None:
    import torch

    from braintwin.segment.network import DEFAULT_WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("cache_dir", type=Path)
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--slice-mm", type=float, default=None)
    ap.add_argument("--average", type=Path, nargs="+", default=None, metavar="CACHE")
    args = ap.parse_args(argv)
    if args.average:
        print("averaged", average_caches(args.average, args.cache_dir), "cases")
        return
    torch.set_num_threads(args.threads)
    cache_folds(args.data_dir, args.cache_dir, args.weights, args.slice_mm)


if __name__ == "__main__":
    main()

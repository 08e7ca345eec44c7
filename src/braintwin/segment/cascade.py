"""A 1 mm cascade stage: a second network refines WT, TC and ET on a crop around the tumour.

**Tried for issue 11 and not shipped**: cross-validated on the shared cases it lost to the
first stage with the enhancing-rim refinement in every form tried (the data/segment README
has the table); the shipped path does not use it. It stays as the trainable, tested design
for a larger training set or a GPU.

The first network sees ~2 mm voxels, which cannot resolve a 2–4 mm enhancing rim or the
boundary of the core. The cascade (the coarse-to-fine design of the BraTS cascades, e.g.
Wang et al. 2017 arXiv:1709.00382, Isensee et al. 2021 nnU-Net "cascade") works on the input
grid (about 1 mm) inside a box around the first stage's whole tumour:

* inputs (7 channels): the four sequences at full resolution, z-scored inside the brain or
  case-relative (:func:`relative_intensities`), missing ones all-zero as for the first stage,
  and the first stage's WT/TC/ET probabilities upsampled to that grid;
* output: WT/TC/ET logits **added to the first stage's logits** (a residual correction whose
  last layer starts at zero), so an untrained cascade returns the first stage's answer and
  training only has to learn where the coarse boundary is wrong;
* outside the box the first stage's probabilities are kept.

The network is a small MONAI SegResNet (Myronenko 2018) with two down-samplings (179 k
parameters). Training (:mod:`braintwin.segment.cascade_train`) uses out-of-fold first-stage
probabilities, so the cascade learns to correct predictions like those it gets on unseen cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from braintwin.checkpoint import cast_floats, read_checkpoint, write_checkpoint
from braintwin.errors import ConfigurationError
from braintwin.segment.data import CHANNELS, extract, paste, zscore_in_mask
from braintwin.types.volume import Modality

__all__ = [
    "Cascade",
    "CascadeNet",
    "build_cascade",
    "cascade_box",
    "cascade_input",
    "load_cascade",
    "refine_probabilities",
    "relative_intensities",
    "save_cascade",
]

#: Voxels with a first-stage WT probability at least this define the crop.
BOX_LEVEL = 0.1
#: Margin (mm) around them.
BOX_MARGIN_MM = 8.0
#: The crop's size is a multiple of this per axis (two stride-2 levels need 4).
BOX_MULTIPLE = 8
#: Crops up to this many voxels go through the network in one pass (about 1.1 GB at 128 ×
#: 144 × 128, 2.4 s on one busy core); larger ones in sliding windows of :data:`WINDOW`, which
#: cost ~3.5× more for the same crop because of the overlaps.
WHOLE_MAX_VOXELS = 160**3
WINDOW = 128
#: Probabilities are clipped to [EPS, 1 - EPS] before their logit is taken.
EPS = 1e-4
IN_CHANNELS = len(CHANNELS) + 3


def _segresnet(init_filters: int = 8) -> torch.nn.Module:
    from monai.networks.nets import SegResNet

    return SegResNet(
        spatial_dims=3,
        init_filters=init_filters,
        in_channels=IN_CHANNELS,
        out_channels=3,
        blocks_down=(1, 2, 2),
        blocks_up=(1, 1),
        dropout_prob=None,
    )


def _logit(p: torch.Tensor) -> torch.Tensor:
    q = p.clamp(EPS, 1.0 - EPS)
    return torch.log(q) - torch.log1p(-q)


class CascadeNet(torch.nn.Module):
    """Residual refinement: logits = logit(first-stage probabilities) + network(inputs)."""

    def __init__(
        self, init_filters: int = 8, relative: bool = False, zero_last: bool = True
    ) -> None:
        super().__init__()
        #: Inputs are case-relative intensities (:func:`relative_intensities`).
        self.relative = relative
        self.body = _segresnet(init_filters)
        if zero_last:
            # Start as the identity on the first stage's answer (a zero correction).
            last = [m for m in self.body.modules() if isinstance(m, torch.nn.Conv3d)][-1]
            torch.nn.init.zeros_(last.weight)
            if last.bias is not None:
                torch.nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _logit(x[:, len(CHANNELS) :]) + self.body(x)


def build_cascade(**kwargs: Any) -> CascadeNet:
    """A fresh cascade network (``init_filters``)."""
    return CascadeNet(**kwargs)


@dataclass(frozen=True)
class Cascade:
    """A loaded cascade: network in eval mode, its thresholds and training record."""

    net: Any
    thresholds: dict[str, float]
    info: dict[str, Any]


def save_cascade(
    model: CascadeNet, path: Path, kwargs: dict[str, Any], info: dict[str, Any]
) -> Path:
    """Write the cascade's weights (float16) and provenance atomically."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": 1,
        "network": "cascade-segresnet",
        "kwargs": kwargs,
        "info": info,
        "state_dict": cast_floats(state, torch.float16),
    }
    return write_checkpoint(payload, path)


@lru_cache(maxsize=2)
def load_cascade(path: Path) -> Cascade:
    """Load cascade weights on the CPU (``weights_only``); cached per path."""
    payload = read_checkpoint(
        path,
        what="cascade segmentation weights",
        missing_hint="train them: python -m braintwin.segment.cascade_train",
    )
    if payload.get("network") != "cascade-segresnet":
        raise ConfigurationError(f"{Path(path).name} is not a braintwin cascade weights file")
    net = build_cascade(**payload.get("kwargs", {}), zero_last=False)
    try:
        net.load_state_dict(cast_floats(payload["state_dict"], torch.float32))
    except (RuntimeError, KeyError) as err:
        raise ConfigurationError(f"cascade weights do not fit the network: {err}") from err
    info = dict(payload.get("info", {}))
    thr = dict(info.get("thresholds") or dict.fromkeys(("WT", "TC", "ET"), 0.5))
    return Cascade(net.eval(), thr, info)


def cascade_box(p_wt: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray | None:
    """(3, 2) start/stop of the crop around ``p_wt >= BOX_LEVEL`` (None when there is none).

    Grown by :data:`BOX_MARGIN_MM` and to a multiple of :data:`BOX_MULTIPLE` per axis; may
    exceed the grid (the outside is zero-padded by :func:`extract`).
    """
    idx = np.argwhere(p_wt >= BOX_LEVEL)
    if idx.size == 0:
        return None
    box = np.zeros((3, 2), dtype=int)
    for ax in range(3):
        m = int(np.ceil(BOX_MARGIN_MM / spacing[ax]))
        lo, hi = int(idx[:, ax].min()) - m, int(idx[:, ax].max()) + 1 + m
        size = -(-(hi - lo) // BOX_MULTIPLE) * BOX_MULTIPLE
        lo -= (size - (hi - lo)) // 2
        box[ax] = (lo, lo + size)
    return box


def relative_intensities(z: np.ndarray, modality: Modality, probs: np.ndarray) -> np.ndarray:
    """A crop's z-scores rescaled so the case's own tissue sits at 0 and its tumour at 1.

    0 is the median of the crop's brain voxels the first stage calls tumour-free (WT
    probability < :data:`BOX_LEVEL`), 1 the median of those it calls tumour (enhancing tumour
    for T1ce when there is any, whole tumour otherwise). Contrast between cases and scanners
    varies far more than 14 training cases show; measured relative to the case itself, as the
    enhancing-rim refinement of :mod:`braintwin.segment.postprocess` does, it does not.
    """
    inside = z != 0
    normal = inside & (probs[0] < BOX_LEVEL)
    region = probs[2] >= 0.5 if modality is Modality.T1CE and (probs[2] >= 0.5).any() else None
    if region is None:
        region = probs[0] >= 0.5
    region &= inside
    if not normal.any() or not region.any():
        return z
    lo, hi = float(np.median(z[normal])), float(np.median(z[region]))
    span = hi - lo if abs(hi - lo) >= 0.1 else 1.0
    return np.where(inside, (z - lo) / span, 0.0).astype(np.float32)


def cascade_input(
    zscored: dict[Modality, np.ndarray],
    probs: np.ndarray,
    box: np.ndarray,
    relative: bool = False,
) -> np.ndarray:
    """(7, crop) float32: the sequences (zeros where missing) and the probabilities.

    Sequences are z-scored inside the brain, or with ``relative`` case-relative
    (:func:`relative_intensities`).
    """
    shape = tuple(int(b[1] - b[0]) for b in box)
    p = extract(probs, box)
    chans = []
    for m in CHANNELS:
        if m not in zscored:
            chans.append(np.zeros(shape, dtype=np.float32))
            continue
        z = extract(zscored[m], box)
        chans.append(relative_intensities(z, m, p) if relative else z)
    return np.concatenate([np.stack(chans), p]).astype(np.float32)


def refine_probabilities(
    probs: np.ndarray,
    arrays: dict[Modality, np.ndarray],
    brain: np.ndarray,
    spacing: tuple[float, float, float],
    cascade: Cascade,
) -> np.ndarray:
    """First-stage (3, X, Y, Z) probabilities with the tumour box re-predicted at full resolution.

    ``arrays`` are the raw sequences on the same grid (z-scored here inside ``brain``).
    Outside the box, and when the first stage finds no tumour, ``probs`` is returned unchanged.
    """
    from monai.inferers import sliding_window_inference

    box = cascade_box(probs[0], spacing)
    if box is None:
        return probs
    zs = {m: zscore_in_mask(a, brain) for m, a in arrays.items() if m in CHANNELS}
    x = torch.from_numpy(cascade_input(zs, probs, box, cascade.net.relative))[None]
    with torch.no_grad():
        if int(np.prod(x.shape[2:])) <= WHOLE_MAX_VOXELS:
            logits = cascade.net(x)
        else:
            roi = tuple(min(WINDOW, s) for s in x.shape[2:])
            logits = sliding_window_inference(
                x, roi, sw_batch_size=1, predictor=cascade.net, overlap=0.25, mode="gaussian"
            )
    refined = torch.sigmoid(torch.as_tensor(logits))[0].numpy()
    refined *= extract(brain, box)[None]
    out = probs.copy()
    inside = paste(np.ones(refined.shape[1:], dtype=bool), box, brain.shape)
    out[:, inside] = paste(refined, box, brain.shape)[:, inside]
    return out

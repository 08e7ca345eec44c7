"""The 1 mm cascade: crop box, residual identity start, weights file, seeded training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from braintwin.errors import ConfigurationError, NotFoundError
from braintwin.segment.cascade import (
    BOX_MARGIN_MM,
    BOX_MULTIPLE,
    EPS,
    Cascade,
    build_cascade,
    cascade_box,
    cascade_input,
    load_cascade,
    refine_probabilities,
    save_cascade,
)
from braintwin.segment.cascade_train import CascadeConfig, Sample, train_cascade
from braintwin.types.volume import Modality

SPACING = (1.0, 1.0, 1.0)


def _case(shape: tuple[int, int, int] = (64, 64, 48)) -> tuple[np.ndarray, dict, np.ndarray]:
    """Synthetic (labelled as such): a 16³ bright cube as tumour, probabilities 0.9 inside."""
    rng = np.random.default_rng(0)
    brain = np.zeros(shape, dtype=bool)
    brain[4:-4, 4:-4, 4:-4] = True
    arrays = {m: np.where(brain, rng.normal(100, 10, shape), 0.0) for m in Modality.mri()}
    probs = np.zeros((3, *shape), dtype=np.float32)
    probs[:, 24:40, 24:40, 16:32] = 0.9
    probs[:, 22:42, 22:42, 14:34] = np.maximum(probs[:, 22:42, 22:42, 14:34], 0.2)
    return probs, arrays, brain


def test_box_is_the_tumour_plus_margin_in_multiples() -> None:
    p = np.zeros((100, 100, 100), dtype=np.float32)
    p[40:50, 30:45, 60:61] = 0.5  # 10 x 15 x 1 voxels at 1 mm
    box = cascade_box(p, SPACING)
    assert box is not None
    sizes = box[:, 1] - box[:, 0]
    assert all(s % BOX_MULTIPLE == 0 for s in sizes)
    m = int(BOX_MARGIN_MM)
    for ax, (lo, hi) in enumerate(((40, 50), (30, 45), (60, 61))):
        assert box[ax, 0] <= lo - m and box[ax, 1] >= hi + m
        assert sizes[ax] < hi - lo + 2 * m + BOX_MULTIPLE
    # Anisotropic voxels: the margin is in mm, so 8 mm is 2 voxels of 4 mm.
    thick = cascade_box(p, (1.0, 1.0, 4.0))
    assert thick is not None and thick[2, 1] - thick[2, 0] == BOX_MULTIPLE
    assert cascade_box(np.zeros((8, 8, 8)), SPACING) is None


def test_input_channels_zero_where_a_sequence_is_missing() -> None:
    probs, arrays, _ = _case()
    box = cascade_box(probs[0], SPACING)
    assert box is not None
    x = cascade_input({Modality.FLAIR: arrays[Modality.FLAIR]}, probs, box)
    assert x.shape == (7, *(box[:, 1] - box[:, 0]))
    assert not x[:3].any() and x[3].any()  # T1, T1ce, T2 missing; FLAIR present
    assert x[4:].max() == pytest.approx(0.9)


def test_untrained_cascade_returns_the_first_stage() -> None:
    """The last layer starts at zero, so the correction is zero: p -> sigmoid(logit(p)) = p."""
    probs, arrays, brain = _case()
    torch.manual_seed(0)
    cascade = Cascade(build_cascade().eval(), dict.fromkeys(("WT", "TC", "ET"), 0.5), {})
    out = refine_probabilities(probs, arrays, brain, SPACING, cascade)
    assert out.shape == probs.shape
    # (probabilities are clipped to [EPS, 1 - EPS] before their logit is taken)
    np.testing.assert_allclose(out[:, brain], probs[:, brain], atol=EPS * 1.01)
    # Outside the brain the refined box is zero, as the first stage's upsampling makes it.
    assert not out[:, ~brain].any()
    # No tumour: nothing to refine, the input comes back as is.
    empty = np.zeros_like(probs)
    assert refine_probabilities(empty, arrays, brain, SPACING, cascade) is empty


def test_trained_correction_changes_only_the_box(tmp_path: Path) -> None:
    probs, arrays, brain = _case()
    net = build_cascade()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05)  # any non-zero correction
    path = save_cascade(net, tmp_path / "c.pt", {"init_filters": 8}, {"thresholds": {"WT": 0.5}})
    cascade = load_cascade(path)
    out = refine_probabilities(probs, arrays, brain, SPACING, cascade)
    box = cascade_box(probs[0], SPACING)
    assert box is not None
    inside = np.zeros(brain.shape, dtype=bool)
    inside[tuple(slice(max(0, a), b) for a, b in box)] = True
    assert not np.allclose(out[:, inside & brain], probs[:, inside & brain], atol=1e-3)
    np.testing.assert_array_equal(out[:, ~inside], probs[:, ~inside])


def test_weights_file_round_trip_and_refusals(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = build_cascade()
    path = save_cascade(net, tmp_path / "c.pt", {"init_filters": 8}, {"steps": 3})
    loaded = load_cascade(path)
    assert loaded.info["steps"] == 3 and loaded.thresholds == dict.fromkeys(("WT", "TC", "ET"), 0.5)
    for k, v in net.state_dict().items():
        # Stored as float16: equal to that precision.
        torch.testing.assert_close(loaded.net.state_dict()[k], v.half().float())
    with pytest.raises(NotFoundError):
        load_cascade(tmp_path / "missing.pt")
    torch.save({"network": "segresnet", "state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ConfigurationError, match="not a braintwin cascade"):
        load_cascade(tmp_path / "other.pt")


def test_training_is_seeded_and_learns_a_shifted_boundary() -> None:
    """Synthetic: the first stage is unsure (p 0.35) of a 3-voxel shell of bright tumour."""
    rng = np.random.default_rng(0)
    shape = (24, 24, 24)
    img = rng.normal(0.0, 0.3, (4, *shape)).astype(np.float32)
    truth = np.zeros(shape, dtype=bool)
    truth[6:18, 6:18, 6:18] = True
    img[:, truth] += 2.0  # the tumour is bright in every sequence
    first = np.full(shape, 0.02, dtype=np.float32)
    first[truth] = 0.35
    first[9:15, 9:15, 9:15] = 0.9
    x = np.concatenate([img, np.stack([first] * 3)])
    y = np.stack([truth] * 3).astype(np.float32)
    sample = Sample(x=x, y=y, core=np.argwhere(truth))
    config = CascadeConfig(steps=25, batch=1, patch=24, lr=3e-3, warmup_steps=2, seed=3)
    a = train_cascade({"all": [sample]}, config, log=lambda m: None)
    b = train_cascade({"all": [sample]}, config, log=lambda m: None)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v)
    with torch.no_grad():
        p = torch.sigmoid(a(torch.from_numpy(x)[None]))[0, 0].numpy()
    before = 2 * (first > 0.5).sum() / ((first > 0.5).sum() + truth.sum())
    after = 2 * ((p > 0.5) & truth).sum() / ((p > 0.5).sum() + truth.sum())
    assert after > before + 0.05


def test_relative_intensities_put_tissue_at_zero_and_tumour_at_one() -> None:
    from braintwin.segment.cascade import relative_intensities

    probs = np.zeros((3, 10, 10, 10), np.float32)
    probs[:, 3:7, 3:7, 3:7] = 0.9  # tumour (and enhancing) per the first stage
    z = np.full((10, 10, 10), 0.5, np.float32)
    z[3:7, 3:7, 3:7] = 2.5
    z[0] = 0.0  # outside the brain stays 0
    r = relative_intensities(z, Modality.FLAIR, probs)
    assert r[5, 5, 5] == pytest.approx(1.0) and r[8, 8, 8] == pytest.approx(0.0)
    assert not r[0].any()
    # A dark tumour (T1) maps to 1 as well; without contrast the values are only shifted.
    t1 = np.where(z == 2.5, -1.5, z)
    assert relative_intensities(t1, Modality.T1, probs)[5, 5, 5] == pytest.approx(1.0)
    flat = np.full((10, 10, 10), 0.5, np.float32)
    np.testing.assert_allclose(relative_intensities(flat, Modality.T1, probs), 0.0)
    # No tumour found: nothing to measure against, the z-scores come back unchanged.
    assert relative_intensities(z, Modality.T1, np.zeros_like(probs)) is z

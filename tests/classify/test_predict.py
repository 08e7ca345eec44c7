"""Inference API: images, arrays, volumes and visits; the shipped weights on real slices."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from braintwin.classify import (
    CLASSES,
    Prediction,
    classify_image,
    classify_visit,
    classify_volume_slices,
)
from braintwin.classify.model import SliceResNet
from braintwin.classify.weights import DEFAULT_WEIGHTS, load_classifier, save_classifier
from braintwin.errors import InputError, NotFoundError
from braintwin.types import Modality, Visit, Volume


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny checkpoint (synthetic; tests the plumbing, not accuracy)."""
    torch.manual_seed(0)
    m = SliceResNet(widths=(8, 8, 16, 16), blocks=(1, 1, 1))
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    return save_classifier(
        path,
        m,
        arch="slice_resnet",
        arch_kwargs={"widths": [8, 8, 16, 16], "blocks": [1, 1, 1]},
        classes=CLASSES,
        size=64,
        temperature=1.5,
        info={"note": "synthetic"},
    )


def _head_volume(rng: np.random.Generator, tumour: bool) -> tuple[Volume, Volume]:
    n = 48
    x, y, z = np.mgrid[:n, :n, :20]
    head = ((x - n / 2) / 20) ** 2 + ((y - n / 2) / 22) ** 2 + ((z - 10) / 12) ** 2 < 1
    data = np.where(head, 100.0, 0.0) + rng.normal(0, 2, head.shape)
    seg = np.zeros(head.shape, np.uint8)
    if tumour:
        blob = (x - 30) ** 2 + (y - 28) ** 2 + (z - 12) ** 2 < 25
        data[blob] = 180.0
        seg[blob] = 4
    aff = np.diag([1.0, 1.0, 3.0, 1.0])
    return Volume(data.astype(np.float32), aff, Modality.T1CE), Volume(seg, aff, Modality.SEG)


def test_classify_array_and_file(
    tiny_weights: Path, tmp_path: Path, rng: np.random.Generator
) -> None:
    img = (rng.random((100, 90)) * 200).astype(np.uint8)
    p = classify_image(img, weights=tiny_weights)
    assert isinstance(p, Prediction) and p.label in CLASSES
    assert set(p.probabilities) == set(CLASSES)
    assert sum(p.probabilities.values()) == pytest.approx(1.0)
    assert p.label == max(p.probabilities, key=p.probabilities.__getitem__)
    assert Image.open(io.BytesIO(p.explanation_png or b"")).format == "PNG"
    Image.fromarray(img).save(tmp_path / "s.png")
    q = classify_image(tmp_path / "s.png", explain=False, weights=tiny_weights)
    assert q.explanation_png is None
    assert q.probabilities == pytest.approx(p.probabilities, abs=1e-5)
    assert "explanation" not in q.to_dict() and q.to_dict()["has_explanation"] is False


def test_volume_uses_tumour_slices(tiny_weights: Path, rng: np.random.Generator) -> None:
    vol, seg = _head_volume(rng, tumour=True)
    p = classify_volume_slices(vol, seg, weights=tiny_weights)
    assert set(p.slices) <= set(range(8, 17)) and len(p.slices) >= 1  # blob spans z 8..16
    assert "tumour area" in p.note
    q = classify_volume_slices(vol, None, explain=False, weights=tiny_weights)
    assert "no tumour segmentation" in q.note and len(q.slices) <= 9
    visit = Visit(date=dt.date(2020, 1, 1), volumes={Modality.T1CE: vol}, segmentation=seg)
    r = classify_visit(visit, explain=False, weights=tiny_weights)
    assert r.probabilities == pytest.approx(p.probabilities)


def test_volume_bad_inputs(tiny_weights: Path, rng: np.random.Generator) -> None:
    vol, _ = _head_volume(rng, tumour=False)
    bad_seg = Volume(np.zeros((4, 4, 4), np.uint8), np.eye(4), Modality.SEG)
    with pytest.raises(InputError, match="shape"):
        classify_volume_slices(vol, bad_seg, weights=tiny_weights)
    with pytest.raises(InputError, match="no MRI volume"):
        classify_visit(Visit(date=dt.date(2020, 1, 1)), weights=tiny_weights)


def test_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_classifier(tmp_path / "none.pt")


def test_shipped_weights_classify_real_slices(shared_data: Path) -> None:
    """Two real Training slices per class; the shipped model must get most of them right.

    These images were seen in training or validation, so this checks loading and the whole
    pipeline end to end, not generalisation (see the eval numbers for that).
    """
    assert DEFAULT_WEIGHTS.is_file(), "shipped classifier weights are missing"
    root = shared_data / "kaggle-brain-mri" / "Training"
    correct = 0
    for name in CLASSES:
        files = sorted((root / name).glob("*.jpg"))[:2]
        for f in files:
            p = classify_image(f, explain=False)
            correct += p.label == name
    assert correct >= 6  # of 8; chance is 2


def _fixed_prediction(label: str) -> Prediction:
    probs = dict.fromkeys(CLASSES, 0.1)
    probs[label] = 0.7
    return Prediction(probabilities=probs, label=label)


@pytest.mark.parametrize(
    ("label", "ml", "modality", "disagree", "n_flags"),
    [
        ("notumor", 72.0, Modality.T1CE, True, 1),  # tumour segmented, classifier says none
        ("notumor", 72.0, Modality.FLAIR, True, 2),  # ... and no T1ce
        ("notumor", 0.5, Modality.T1CE, False, 0),  # below 1 mL: no contradiction
        ("glioma", 72.0, Modality.T1CE, False, 0),
        ("glioma", 0.0, Modality.T1CE, True, 1),  # a type, but nothing segmented
        ("glioma", None, Modality.T1, False, 1),  # unsegmented visit without T1ce
    ],
)
def test_visit_flags(
    label: str, ml: float | None, modality: Modality, disagree: bool, n_flags: int
) -> None:
    from braintwin.classify.predict import _visit_flags

    got_disagree, flags = _visit_flags(_fixed_prediction(label), ml, modality)
    assert got_disagree is disagree and len(flags) == n_flags
    if modality is not Modality.T1CE:
        assert any("no T1ce" in f and modality.value.upper() in f for f in flags)
    if disagree:
        assert any(f.startswith("disagreement") for f in flags)


def test_visit_without_t1ce_uses_flair_and_says_so(
    tiny_weights: Path, rng: np.random.Generator
) -> None:
    vol, seg = _head_volume(rng, tumour=True)
    flair = Volume(vol.data, vol.affine, Modality.FLAIR)
    t1 = Volume(vol.data * 0.5, vol.affine, Modality.T1)
    mask = Volume((vol.data > 50).astype(np.uint8), vol.affine, Modality.MASK)
    visit = Visit(
        date=dt.date(2020, 1, 1),
        volumes={Modality.T1: t1, Modality.FLAIR: flair},
        segmentation=seg,
        brain_mask=mask,
    )
    p = classify_visit(visit, explain=False, weights=tiny_weights)
    assert p.modality == "flair" and p.tumour_ml == pytest.approx(
        np.count_nonzero(seg.data) * 3.0 / 1000.0
    )
    assert any("no T1ce" in f for f in p.flags)
    d = p.to_dict()
    assert {"flags", "disagreement", "modality", "tumour_ml"} <= set(d)
    if p.label == "notumor" and (p.tumour_ml or 0) >= 1.0:
        assert p.disagreement

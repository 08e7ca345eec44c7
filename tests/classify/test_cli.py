"""CLI: ``classify IMAGE``, ``eval classify DIR`` (JSON last line) and clean errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from braintwin.classify import CLASSES
from braintwin.classify.model import SliceResNet
from braintwin.classify.weights import save_classifier
from braintwin.cli import classify as cli_classify
from braintwin.cli.groups import eval_app
from braintwin.errors import BraintwinError


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """Only this area's commands, so the test does not depend on other areas' CLIs."""
    root = typer.Typer()

    @root.callback()
    def _cb() -> None:
        """root"""

    cli_classify.register(root)
    root.add_typer(eval_app, name="eval")
    return root


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    m = SliceResNet(widths=(8, 8, 16, 16), blocks=(1, 1, 1))
    return save_classifier(
        tmp_path_factory.mktemp("w") / "tiny.pt",
        m,
        arch="slice_resnet",
        arch_kwargs={"widths": [8, 8, 16, 16], "blocks": [1, 1, 1]},
        classes=CLASSES,
        size=64,
        temperature=1.0,
        info={},
    )


def _img(rng: np.random.Generator) -> Image.Image:
    yy, xx = np.mgrid[:80, :80]
    disc = ((yy - 40) ** 2 + (xx - 40) ** 2 < 900) * 120.0
    return Image.fromarray(np.clip(disc + rng.normal(0, 10, disc.shape), 0, 255).astype(np.uint8))


def test_classify_image_cli(
    app: typer.Typer, tiny_weights: Path, tmp_path: Path, rng: np.random.Generator
) -> None:
    _img(rng).save(tmp_path / "x.png")
    png = tmp_path / "cam.png"
    res = CliRunner().invoke(
        app, ["classify", str(tmp_path / "x.png"), "--weights", str(tiny_weights), "-e", str(png)]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["label"] in CLASSES and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classify_bad_file_raises_input_error(
    app: typer.Typer, tiny_weights: Path, tmp_path: Path
) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    res = CliRunner().invoke(
        app, ["classify", str(tmp_path / "bad.jpg"), "--weights", str(tiny_weights)]
    )
    # The real entry point turns BraintwinError into one red line and exit code 2.
    assert res.exit_code != 0 and isinstance(res.exception, BraintwinError)


def test_eval_classify_json(
    app: typer.Typer, tiny_weights: Path, tmp_path: Path, rng: np.random.Generator
) -> None:
    for name in CLASSES:
        (tmp_path / name).mkdir()
        for i in range(2):
            _img(rng).save(tmp_path / name / f"{i}.jpg")
    res = CliRunner().invoke(
        app, ["eval", "classify", str(tmp_path), "--weights", str(tiny_weights), "--robustness"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["n"] == 8 and 0.0 <= out["accuracy"] <= 1.0 and out["seconds_per_image"] > 0
    assert set(out["per_class_f1"]) == set(CLASSES)
    assert np.array(out["confusion_matrix"]).sum() == 8
    rob = out["robustness"]
    assert {"clean", "jpeg_q50", "flip_left_right", "fgsm_eps2/255", "defence_median3"} <= set(rob)


@pytest.mark.slow
def test_eval_classify_volumes_goes_through_the_twin_path(
    app: typer.Typer, tiny_weights: Path, cropped_case: Callable[..., Path]
) -> None:
    """A real BraTS case (cropped around its tumour, with its expert *_seg) through
    read -> prepare_visit -> classify_visit: the expert label is not used, the row carries
    the predicted segmentation's tumour volume and the visit flags."""
    case = cropped_case(40)
    res = CliRunner().invoke(
        app,
        ["eval", "classify-volumes", str(case.parent), "--weights", str(tiny_weights)],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["n"] == 1 and out["true_label"] == "glioma"
    assert "prepare_visit" in out["path"] and "expert labels not used" in out["path"]
    assert sum(out["predicted"].values()) == 1
    row = out["cases"][0]
    assert out["correct"] == int(row["label"] == "glioma")
    assert row["modality"] == "t1ce" and row["slices"] >= 1
    assert row["tumour_ml"] is not None and row["tumour_ml"] > 1.0  # the network found it
    if row["label"] == "notumor":
        assert row["disagreement"] and row["flags"]
    res2 = CliRunner().invoke(
        app,
        [
            "eval",
            "classify-volumes",
            str(case.parent),
            "--weights",
            str(tiny_weights),
            "--without",
            "t1ce",
        ],
    )
    assert res2.exit_code == 0, res2.output
    row2 = json.loads(res2.stdout.strip().splitlines()[-1])["cases"][0]
    assert row2["modality"] == "flair" and any("no T1ce" in f for f in row2["flags"])
    bad = CliRunner().invoke(app, ["eval", "classify-volumes", str(case.parent), "--label", "x"])
    assert bad.exit_code != 0

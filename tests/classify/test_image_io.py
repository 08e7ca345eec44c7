"""Reading images for classification: formats that must work and bad inputs that must fail clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from braintwin.classify.image_io import load_image, to_grey
from braintwin.errors import InputError


def _phantom(rng: np.random.Generator, n: int = 64) -> np.ndarray:
    """Synthetic 'head': a bright disc with a brighter blob, on a dark background (uint8)."""
    yy, xx = np.mgrid[:n, :n]
    img = np.where((yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.4 * n) ** 2, 120.0, 5.0)
    img[(yy - 0.4 * n) ** 2 + (xx - 0.6 * n) ** 2 < (0.1 * n) ** 2] = 220.0
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def test_grey_and_rgb_jpeg_agree(tmp_path: Path, rng: np.random.Generator) -> None:
    img = _phantom(rng)
    Image.fromarray(img).save(tmp_path / "g.png")
    Image.fromarray(np.repeat(img[..., None], 3, axis=2)).save(tmp_path / "c.png")
    g, c = load_image(tmp_path / "g.png"), load_image(tmp_path / "c.png")
    assert g.shape == (64, 64) and g.dtype == np.float32
    np.testing.assert_allclose(g, c, atol=0.51)  # luma of equal RGB channels = the grey value


def test_16bit_png_keeps_depth(tmp_path: Path, rng: np.random.Generator) -> None:
    img16 = _phantom(rng).astype(np.uint16) * 200  # values up to ~44,000 (> 8 bit)
    Image.fromarray(img16).save(tmp_path / "deep.png")
    out = load_image(tmp_path / "deep.png")
    assert out.max() > 255
    np.testing.assert_allclose(out, img16.astype(np.float32))


def test_dicom_slice_reads() -> None:
    pydicom = pytest.importorskip("pydicom")
    path = pydicom.data.get_testdata_file("MR_small.dcm")
    out = load_image(path)
    assert out.ndim == 2 and out.shape == (64, 64) and np.isfinite(out).all()


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("this is a text file, not a JPEG")
    with pytest.raises(InputError, match="not an image"):
        load_image(p)


def test_truncated_file(tmp_path: Path, rng: np.random.Generator) -> None:
    full = tmp_path / "full.jpg"
    Image.fromarray(_phantom(rng, 128)).save(full, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputError, match=r"truncated|decode"):
        load_image(cut)


def test_one_pixel_image(tmp_path: Path) -> None:
    Image.fromarray(np.array([[128]], dtype=np.uint8)).save(tmp_path / "dot.png")
    with pytest.raises(InputError, match="too small"):
        load_image(tmp_path / "dot.png")


def test_animated_gif(tmp_path: Path, rng: np.random.Generator) -> None:
    frames = [Image.fromarray(_phantom(rng)) for _ in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(InputError, match="animated"):
        load_image(tmp_path / "anim.gif")


def test_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(InputError, match="no such"):
        load_image(tmp_path / "missing.png")


def test_to_grey_shapes_and_errors(rng: np.random.Generator) -> None:
    img = rng.random((40, 50))
    assert to_grey(img[None]).shape == (40, 50)
    assert to_grey(np.stack([img] * 4, axis=2)).shape == (40, 50)  # RGBA, alpha dropped
    with pytest.raises(InputError, match="2D"):
        to_grey(rng.random((4, 40, 50)))
    with pytest.raises(InputError, match="NaN"):
        to_grey(np.full((20, 20), np.nan))
    with pytest.raises(InputError, match="pixel type"):
        to_grey(np.array([["a"] * 20] * 20))

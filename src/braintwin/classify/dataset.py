"""Class-folder image sets (``DIR/{glioma,meningioma,notumor,pituitary}/*``) decoded once.

Decoding and preparing 5,708 JPEGs takes ~30 s; training reads them ~40 times, so
:func:`load_prepared` decodes once into a uint8 array (n, size, size) and caches it as an
``.npz`` keyed by the folder, its file list and the preparation size.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintwin.atomic import atomic_write_with
from braintwin.classify.image_io import load_image
from braintwin.classify.preprocess import DEFAULT_SIZE, prepare_slice
from braintwin.errors import InputError

__all__ = ["CLASSES", "IMAGE_SUFFIXES", "PreparedSet", "list_images", "load_prepared"]

CLASSES: tuple[str, ...] = ("glioma", "meningioma", "notumor", "pituitary")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm")


@dataclass(frozen=True)
class PreparedSet:
    """Prepared images of a class-folder set.

    Attributes:
        images: (n, size, size) uint8 prepared slices.
        labels: (n,) int64 class indices into ``CLASSES``.
        paths: (n,) file paths relative to the set root (for reports; no patient data).
    """

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]


def list_images(root: str | Path) -> tuple[list[Path], np.ndarray]:
    """Files and labels of a class-folder set, sorted (deterministic order).

    Raises:
        InputError: when ``root`` has none of the four class folders or no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}", "give a folder with one sub-folder per class")
    files: list[Path] = []
    labels: list[int] = []
    for ci, name in enumerate(CLASSES):
        d = root / name
        if not d.is_dir():
            continue
        found = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files.extend(found)
        labels.extend([ci] * len(found))
    if not files:
        raise InputError(
            f"no images found under {root}",
            f"expected sub-folders {', '.join(CLASSES)} holding JPEG/PNG/DICOM files",
        )
    return files, np.asarray(labels, dtype=np.int64)


def _cache_path(root: Path, files: list[Path], size: int) -> Path:
    h = hashlib.sha256(f"{root.resolve()}|{size}|v2".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}|{st.st_size}|{int(st.st_mtime)}".encode())
    cache_dir = Path(os.environ.get("BRAINTWIN_CACHE", Path(tempfile.gettempdir())))
    return cache_dir / f"braintwin-classify-{h.hexdigest()[:16]}.npz"


def load_prepared(
    root: str | Path,
    size: int = DEFAULT_SIZE,
    *,
    use_cache: bool = True,
    progress: Callable[[str, float], None] | None = None,
) -> PreparedSet:
    """Decode and prepare every image under ``root`` (cached as npz in ``$BRAINTWIN_CACHE``/tmp).

    Unreadable files raise :class:`InputError` naming the file; a training set with corrupt
    images should be fixed, not silently shrunk.
    """
    root = Path(root)
    files, labels = list_images(root)
    rel = [str(f.relative_to(root)) for f in files]
    cache = _cache_path(root, files, size)
    if use_cache and cache.is_file():
        with np.load(cache) as z:
            return PreparedSet(images=z["images"], labels=z["labels"], paths=rel)
    images = np.empty((len(files), size, size), dtype=np.uint8)
    for i, f in enumerate(files):
        try:
            images[i] = prepare_slice(load_image(f), size)
        except InputError as err:
            raise InputError(f"{f.relative_to(root)}: {err.message}", err.hint) from err
        if progress is not None and i % 200 == 0:
            progress("decoding images", i / len(files))
    if use_cache:
        # atomic: a concurrent reader never sees a half-written cache
        atomic_write_with(cache, lambda tmp: np.savez(tmp, images=images, labels=labels))
    return PreparedSet(images=images, labels=labels, paths=rel)

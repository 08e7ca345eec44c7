"""Figures of the twin's model: posterior marginals and probability maps (forecast volume
bands are drawn on the course over time, :mod:`braintwin.report.timeline`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from braintwin.report.figures import Layer, center_of_interest, display_range, slice_grid, to_png
from braintwin.types import Volume

__all__ = ["posterior_figure", "probability_panel"]

_UNITS = {"D_w": "mm²/day", "rho": "1/day", "alpha": "1/Gy"}


def _mpl() -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use("default")
    return plt


def posterior_figure(
    names: Sequence[str], samples: np.ndarray, prior: np.ndarray | None = None
) -> bytes:
    """Histograms of each parameter's posterior samples (log axis), with the prior if given.

    Args:
        names: parameter names, one per column of ``samples``.
        samples: (n, k) draws in natural units.
        prior: optional (m, k) prior draws drawn in grey for comparison.
    """
    plt = _mpl()
    k = len(names)
    fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 2.8), squeeze=False)  # type: ignore[attr-defined]
    for i, name in enumerate(names):
        ax = axes[0][i]
        x = np.log10(samples[:, i])
        bins = np.linspace(x.min() - 0.1, x.max() + 0.1, 40)
        if prior is not None:
            xp = np.log10(prior[:, i])
            lo, hi = min(bins[0], xp.min()), max(bins[-1], xp.max())
            bins = np.linspace(lo, hi, 50)
            ax.hist(xp, bins=bins, density=True, color="0.8", label="prior")
        ax.hist(x, bins=bins, density=True, color="tab:blue", alpha=0.8, label="posterior")
        q = np.quantile(x, [0.05, 0.5, 0.95])
        for v, ls in zip(q, (":", "-", ":"), strict=True):
            ax.axvline(v, color="k", ls=ls, lw=1)
        ax.set_xlabel(f"log10 {name} ({_UNITS.get(name, '')})")
        ax.set_yticks([])
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Posterior of the growth parameters (median, 90 % interval)", fontsize=10)
    fig.tight_layout()
    return to_png(fig, "white")


def probability_panel(
    background: Volume,
    probability: Volume,
    *,
    title: str,
    label: str = "probability of tumour",
    focus: Volume | None = None,
    mask: Volume | None = None,
) -> bytes:
    """Axial, coronal and sagittal slices of a 0–1 map over an MRI volume, with orientation
    letters and a scale bar (:func:`braintwin.report.figures.slice_grid`).

    Args:
        label: colour-bar label (e.g. "segmentation uncertainty" for a TTA map).
        focus: a label volume whose centroid the slices pass through (default: the map's
            region above 0.5).
        mask: brain mask the panels are cropped to (default: the background's non-zero part).
    """
    seed = focus if focus is not None else probability.with_data(probability.data > 0.5)
    c = center_of_interest(seed, None, probability.shape)
    bg = background.data.astype(np.float32)
    crop = mask.data.astype(bool) if mask is not None else bg != 0
    lo, hi = display_range(bg, crop)
    layers = [
        Layer(bg, "gray", lo, hi),
        Layer(probability.data.astype(np.float32), "heat"),
        Layer(probability.data.astype(np.float32), "contour", colour="cyan", width=0.8),
    ]
    return slice_grid(
        [("", layers)],
        background.affine,
        center=c,
        crop=crop,
        title=title,
        colorbar=label,
        legend=[("0.5 contour", "cyan")],
        facecolor="white",
    )

"""Probability calibration: temperature scaling and expected calibration error.

Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks", ICML) divides
the logits by one scalar T > 0 fitted to minimise the negative log-likelihood on held-out data;
it changes confidence, never the predicted class. ECE uses equal-width confidence bins (Naeini
et al. 2015): sum over bins of (bin size / n) * |accuracy - mean confidence|.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "expected_calibration_error",
    "expected_calibration_error_reference",
    "fit_temperature",
    "softmax",
]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of (n, k) logits / temperature, numerically stable."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the mean NLL of softmax(logits / T) on (logits, labels).

    Searched on log T in [-3, 3] (T in 0.05..20) by a fine grid followed by golden-section
    refinement: the NLL is smooth and unimodal in log T, and this needs no optimiser state.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)

    def nll(log_t: float) -> float:
        p = softmax(z, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    grid = np.linspace(-3.0, 3.0, 121)
    best = int(np.argmin([nll(g) for g in grid]))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if nll(c) < nll(d):
            b = d
        else:
            a = c
    return float(np.exp(0.5 * (a + b)))


def expected_calibration_error_reference(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = 15
) -> float:
    """Readable loop form of the ECE (top-label, equal-width bins over (0, 1])."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(total)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE of (n, k) probabilities against (n,) integer labels; vectorised form."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    # Bin b holds conf in (b/n, (b+1)/n]; ceil maps exactly that interval to b + 1.
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    np.bincount(idx, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    return float(np.abs(acc_sum - conf_sum).sum() / max(len(y), 1))

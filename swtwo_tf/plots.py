"""Every figure a notebook shows (matplotlib; each function returns its Figure)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_history(history, metrics: tuple[str, ...] = ("loss", "accuracy")):
    """Training curves, one panel per metric, train and validation (chapter 00 onwards).

    ``history`` is a Keras History (or its ``.history`` dict).
    """
    logs = getattr(history, "history", history)
    shown = [m for m in metrics if m in logs]
    if not shown:
        raise ValueError(f"history has none of {metrics}; it logged {sorted(logs)}")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], shown, strict=True):
        epochs = np.arange(1, len(logs[metric]) + 1)
        ax.plot(epochs, logs[metric], "o-", label="train")
        if f"val_{metric}" in logs:
            ax.plot(epochs, logs[f"val_{metric}"], "s--", label="validation")
        ax.set(xlabel="epoch", title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_decision_boundary(predict, x: np.ndarray, y: np.ndarray, title: str = "",
                           ax=None):
    """Shade where a 2-D classifier says class 1, over the labelled points (chapter 00).

    ``predict`` maps an (n, 2) array to probabilities or 0/1 labels of shape (n,) or (n, 1).
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got {x.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.6))
    pad = 0.5
    xs = np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, 200)
    ys = np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, 200)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype("float32")
    z = np.asarray(predict(grid), dtype=float).reshape(grid_x.shape)
    ax.contourf(grid_x, grid_y, z, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.6)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu", edgecolors="k", s=12)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    return ax.figure

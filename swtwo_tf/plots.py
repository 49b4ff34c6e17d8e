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


def image_grid(images, labels=None, class_names=None, predictions=None, *, columns: int = 8,
               title: str = ""):
    """Show 28x28 images in a grid, dark on white, with labels (and predictions, red if wrong).

    Chapters 01-02: a first look at the data, and the gallery of confident mistakes.
    ``predictions`` may be class indices or probability rows (the top class and its
    probability are shown).
    """
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid() got no images")
    def name(k):
        return class_names[int(k)] if class_names else str(int(k))

    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].squeeze(), cmap="gray_r", vmin=0, vmax=images.max() or 1)
        text, colour = (name(labels[i]) if labels is not None else ""), "black"
        if predictions is not None:
            p = np.asarray(predictions[i])
            guess = int(p.argmax()) if p.ndim else int(p)
            text = f"{text} -> {name(guess)}" + (f" {p.max():.0%}" if p.ndim else "")
            colour = "black" if labels is None or guess == int(labels[i]) else "red"
        ax.set_title(text, fontsize=8, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(labels, predicted, class_names):
    """Confusion matrix as a heat map with counts (scikit-learn's display; chapters 01-04)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=list(range(len(class_names))), display_labels=class_names,
        ax=ax, colorbar=False, xticks_rotation=45)
    ax.set_title("rows: true class, columns: predicted")
    fig.tight_layout()
    return fig

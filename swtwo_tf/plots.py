"""Every figure a notebook shows (matplotlib; each function returns its Figure)."""

from __future__ import annotations

import keras
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


def compare_curves(histories: dict, metric: str = "val_accuracy"):
    """One metric of several training runs on one axis (chapter 02's comparison of remedies).

    ``histories`` maps run names to Keras Histories (or their ``.history`` dicts).
    """
    if not histories:
        raise ValueError("histories is empty: nothing to plot")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, history in histories.items():
        logs = getattr(history, "history", history)
        if metric not in logs:
            raise ValueError(f"run {name!r} logged no {metric!r}; it has {sorted(logs)}")
        ax.plot(np.arange(1, len(logs[metric]) + 1), logs[metric], ".-", label=name)
    ax.set(xlabel="epoch", title=metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
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


def accuracy_bars(accuracies: dict, title: str = "accuracy", floor: float | None = None):
    """Bars of accuracy per group, e.g. per speaker or per split (chapter 04).

    ``accuracies`` maps a group name to a dict ``{run name: accuracy}`` (one bar per run) or
    to a single accuracy; ``floor`` draws a dashed target line.
    """
    if not accuracies:
        raise ValueError("accuracies is empty: nothing to plot")
    groups = list(accuracies)
    runs = {g: v if isinstance(v, dict) else {"": v} for g, v in accuracies.items()}
    names = list(dict.fromkeys(n for v in runs.values() for n in v))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(groups)), 3.4))
    for i, name in enumerate(names):
        values = [runs[g].get(name, np.nan) for g in groups]
        x = np.arange(len(groups)) + (i - (len(names) - 1) / 2) * width
        ax.bar(x, values, width, label=name or None)
    if floor is not None:
        ax.axhline(floor, color="black", linestyle="--", linewidth=1)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    if any(names):
        ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def length_histogram(lengths, cutoff: int | None = None, *, unit: str = "words",
                     title: str = ""):
    """Histogram of document lengths, with the model's cut-off marked (chapter 05)."""
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        raise ValueError("lengths is empty: nothing to plot")
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(lengths, bins=60, color="tab:blue", alpha=0.8)
    if cutoff:
        share = float((lengths <= cutoff).mean())
        ax.axvline(cutoff, color="tab:red", linestyle="--",
                   label=f"cut-off {cutoff}: {share:.0%} fit whole")
        ax.legend()
    ax.set(xlabel=f"length ({unit})", ylabel="count", title=title)
    fig.tight_layout()
    return fig


def attention_heatmap(tokens: list[str], weights, title: str = "attention"):
    """Which token (row) attends to which (column), from ``models.text.attention_map``."""
    weights = np.asarray(weights)
    if weights.shape != (len(tokens), len(tokens)):
        raise ValueError(f"weights must be {len(tokens)}x{len(tokens)} for {len(tokens)} "
                         f"tokens, got {weights.shape}")
    size = max(3.0, 0.35 * len(tokens))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(weights, cmap="viridis")
    ax.set_xticks(range(len(tokens)), tokens, rotation=90)
    ax.set_yticks(range(len(tokens)), tokens)
    ax.set(title=title, xlabel="attends to", ylabel="token")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def waveforms(waves: dict, rate: int = 8_000):
    """Waveforms one above the other, time in seconds (chapter 03)."""
    if not waves:
        raise ValueError("waves is empty: nothing to plot")
    fig, axes = plt.subplots(len(waves), 1, figsize=(8, 1.6 * len(waves)), sharex=True,
                             squeeze=False)
    for ax, (name, wave) in zip(axes[:, 0], waves.items(), strict=True):
        wave = np.asarray(wave).reshape(-1)
        ax.plot(np.arange(len(wave)) / rate, wave, linewidth=0.6)
        ax.set(ylabel="amplitude", title=name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def feature_maps(maps: dict, frame_seconds: float = 0.01, ylabel: str = "bin"):
    """2-D features (frames x bins: spectrograms, log-mel, MFCC) as images, time left to
    right, low bins at the bottom (chapter 03)."""
    if not maps:
        raise ValueError("maps is empty: nothing to plot")
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 3.2), squeeze=False)
    for ax, (name, values) in zip(axes[0], maps.items(), strict=True):
        values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError(f"{name!r}: expected a 2-D (frames, bins) array, got {values.shape}")
        extent = (0, values.shape[0] * frame_seconds, 0, values.shape[1])
        image = ax.imshow(values.T, origin="lower", aspect="auto", extent=extent,
                          cmap="magma")
        ax.set(title=name, xlabel="time (s)", ylabel=ylabel)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def _layer_label(layer) -> str:
    """One box's text: the layer's kind and its main settings, e.g. ``Conv2D 32, 3x3, relu``."""
    kind = type(layer).__name__
    if kind == "InputLayer":
        return "Input"
    cfg = layer.get_config() if hasattr(layer, "get_config") else {}
    parts = []
    for key in ("filters", "units", "pool_size", "kernel_size", "rate", "output_dim",
                "num_heads", "key_dim"):
        value = cfg.get(key)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = "x".join(str(v) for v in value)
        parts.append(f"{key.split('_')[0]} {value}" if key in ("rate", "num_heads",
                                                                "key_dim") else str(value))
    activation = cfg.get("activation")
    if activation and activation != "linear":
        parts.append(activation if isinstance(activation, str) else "act")
    if hasattr(layer, "layers") and layer.layers:  # a nested model, e.g. augmentation
        parts.append(f"{len(layer.layers)} layers")
    inner = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
    if inner is not None and isinstance(inner, keras.layers.Layer):  # Bidirectional(GRU 64)
        return f"{kind}({_layer_label(inner)})"
    if not parts and not type(layer).__module__.startswith("keras"):
        # The kit's own layers: their first few plain settings, e.g. num_mel_bins 40
        plain = [(k, v) for k, v in cfg.items() if k not in _BASE_CONFIG
                 and isinstance(v, int | float | str) and not isinstance(v, bool)]
        parts = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in plain[:3]]
    return kind + (" " + ", ".join(parts) if parts else "")


_BASE_CONFIG = {"name", "trainable", "dtype", "seed"}


def _graph(model):
    """``(layers in order, edges as index pairs)`` of a Keras model, nested models as one."""
    layers = list(model.layers)
    index = {id(layer): i for i, layer in enumerate(layers)}
    edges = set()
    for i, layer in enumerate(layers):
        for node in getattr(layer, "_inbound_nodes", [])[:1]:
            for parent in getattr(node, "parent_nodes", []):
                j = index.get(id(parent.operation))
                if j is not None:
                    edges.add((j, i))
    if not edges:  # a Sequential model: a chain
        edges = {(i, i + 1) for i in range(len(layers) - 1)}
    return layers, sorted(edges)


def block_diagram(model, title: str | None = None):
    """The model as boxes top to bottom, one per layer, with each output shape (every
    chapter's main model). Branches and joins (a residual or two inputs) are drawn as
    arrows that skip boxes. Needs only matplotlib, no graphviz."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    layers, edges = _graph(model)
    if not layers:
        raise ValueError(f"model {model.name!r} has no layers to draw")
    has_input_box = any(type(layer).__name__ == "InputLayer" for layer in layers)
    if getattr(model, "inputs", None) and not has_input_box:  # Sequential hides its input
        shape = tuple(model.inputs[0].shape)[1:]
        labels = [f"Input {shape}"]
        edges = [(0, 1)] + [(a + 1, b + 1) for a, b in edges]
    else:
        labels = []
    for layer in layers:
        try:
            out = tuple(layer.output.shape)[1:]
        except (AttributeError, ValueError):
            out = None
        arrow = "  " if type(layer).__name__ == "InputLayer" else "  -> "
        labels.append(_layer_label(layer) + (f"{arrow}{out}" if out is not None else ""))
    n = len(labels)
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * n + 0.8))
    ax.set(xlim=(0, 10), ylim=(-n + 0.3, 0.9))
    ax.axis("off")
    colours = {"Conv": "#cfe2f3", "Pool": "#d9ead3", "Dense": "#fce5cd", "Norm": "#ead1dc",
               "Dropout": "#eeeeee", "GRU": "#fff2cc", "LSTM": "#fff2cc", "RNN": "#fff2cc",
               "Attention": "#f4cccc", "Embedding": "#d0e0e3"}
    for i, text in enumerate(labels):
        colour = next((c for key, c in colours.items() if key in text.split(" ")[0]), "white")
        ax.add_patch(FancyBboxPatch((1.0, -i - 0.3), 8.0, 0.6, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="black", linewidth=0.8))
        ax.text(5.0, -i, text, ha="center", va="center", fontsize=8.5, family="monospace")
    for a, b in edges:
        if b == a + 1:
            ax.add_patch(FancyArrowPatch((5.0, -a - 0.3), (5.0, -b + 0.3),
                                         arrowstyle="-|>", mutation_scale=10))
        else:  # a skip: round the right-hand side
            ax.add_patch(FancyArrowPatch((9.0, -a), (9.0, -b), arrowstyle="-|>",
                                         mutation_scale=10, color="tab:red",
                                         connectionstyle="arc3,rad=-0.4"))
    params = model.count_params() if model.built else None
    ax.set_title(title or f"{model.name}" + (f" ({params:,} parameters)" if params else ""))
    fig.tight_layout()
    return fig


def remedy_chart(rows: list[dict], title: str = "train vs test accuracy"):
    """Chapter 02's remedy table as a chart: train and test accuracy per run, the gap
    (overfitting) written above each pair. ``rows`` come from
    ``evaluation.compare_models``."""
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    names = [r["model"] for r in rows]
    train = np.array([r["train_accuracy"] for r in rows])
    test = np.array([r["test_accuracy"] for r in rows])
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * len(rows)), 3.6))
    ax.bar(x - 0.2, train, 0.4, label="train")
    ax.bar(x + 0.2, test, 0.4, label="test")
    for i, (a, b) in enumerate(zip(train, test, strict=True)):
        ax.text(i, max(a, b) + 0.003, f"gap {100 * (a - b):.1f}p", ha="center", fontsize=8)
    low = float(min(train.min(), test.min()))
    ax.set_ylim(max(0.0, low - 0.05), 1.0 + 0.01)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def scaling_chart(rows: list[dict], title: str = "the same training on more workers"):
    """Chapter 11's cost of scaling: each run's start-up (launch to first step), and its
    median training step split into the all-reduce of the weights (measured alone) and the
    rest (computing the gradients, reading data).

    ``rows`` have ``split`` (the run's name), ``startup_seconds`` (None for a run inside
    this process), ``ms_per_step`` and ``all_reduce_ms``
    (``benchmarks/results/distributed.json``'s rows)."""
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    names = [r["split"] for r in rows]
    x = np.arange(len(rows))
    step = np.array([r["ms_per_step"] for r in rows], dtype=float)
    reduce = np.minimum(step, [r["all_reduce_ms"] for r in rows])
    startup = [r.get("startup_seconds") for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(rows)), 3.8))
    left.bar(x, [s or 0 for s in startup], color="tab:gray")
    for i, seconds in enumerate(startup):
        if seconds is None:
            left.text(i, 0.5, "in this\nprocess", ha="center", va="bottom", fontsize=8)
    left.set_ylabel("seconds from launch to the first step")
    right.bar(x, step - reduce, label="computing the step, reading data", color="tab:blue")
    right.bar(x, reduce, bottom=step - reduce, label="all-reduce of the weights (alone)",
              color="tab:orange")
    right.set_ylabel("median milliseconds per step")
    right.set_ylim(0, step.max() * 1.35)
    right.legend(loc="upper left", fontsize=8)
    for ax in (left, right):
        ax.set_xticks(x, names, rotation=15, ha="right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def paired_examples(images, waves, labels, *, rate: int = 8_000, title: str = ""):
    """Chapter 10's pairs: each image above the waveform of the recording it is paired with."""
    images, waves = np.asarray(images), np.asarray(waves)
    if not len(images) or len(images) != len(waves) or len(waves) != len(labels):
        raise ValueError(f"paired_examples() needs as many images ({len(images)}), waves "
                         f"({len(waves)}) and labels ({len(labels)}), at least one")
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.0), squeeze=False,
                             gridspec_kw={"height_ratios": [1.3, 1]})
    for i in range(n):
        axes[0, i].imshow(images[i].squeeze(), cmap="gray_r", vmin=0, vmax=1)
        axes[0, i].set_title(f"digit {int(labels[i])}", fontsize=9)
        axes[0, i].axis("off")
        axes[1, i].plot(np.arange(waves.shape[1]) / rate, waves[i], linewidth=0.4)
        axes[1, i].set(ylim=(-1, 1), xticks=[], yticks=[])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def corruption_curves(panels: dict, severities, *, title: str = "",
                      axis: str = "severity (0: clean, 1: destroyed)"):
    """Accuracy of each model as one input degrades (chapter 10): ``panels`` maps a panel's
    title (a corruption) to ``{model: [accuracy at each severity]}``; the single-modality
    models are drawn dashed and thick."""
    if not panels:
        raise ValueError("panels is empty: nothing to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6), sharey=True,
                             squeeze=False)
    for ax, (panel, curves) in zip(axes[0], panels.items(), strict=True):
        for name, values in curves.items():
            if len(values) != len(severities):
                raise ValueError(f"{panel}, {name!r}: {len(values)} accuracies for "
                                 f"{len(severities)} severities")
            alone = name.endswith("alone")
            ax.plot(severities, values, marker="o", markersize=3,
                    linewidth=2.4 if alone else 1.2, linestyle="--" if alone else "-",
                    label=name)
        ax.set(xlabel=axis, ylim=(0, 1.01), title=panel)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, 0].legend(fontsize=7, loc="lower left", ncol=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def retrieval_grid(query_labels, retrieved_images, retrieved_labels, *, title: str = ""):
    """Cross-modal retrieval (chapter 10): one row per spoken query, its nearest images left to
    right, titled red when the image shows another digit."""
    retrieved_images = np.asarray(retrieved_images)
    if retrieved_images.ndim != 5:
        raise ValueError("retrieved_images must be (queries, k, 28, 28, 1), got "
                         f"{retrieved_images.shape}")
    rows, k = retrieved_images.shape[:2]
    fig, axes = plt.subplots(rows, k, figsize=(1.2 * k + 1.2, 1.3 * rows), squeeze=False)
    for r in range(rows):
        axes[r, 0].text(-0.9, 0.5, f'"{int(query_labels[r])}"', fontsize=12,
                        transform=axes[r, 0].transAxes, va="center")
        for j in range(k):
            ax = axes[r, j]
            ax.imshow(retrieved_images[r, j].squeeze(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            wrong = int(retrieved_labels[r][j]) != int(query_labels[r])
            for spine in ax.spines.values():
                spine.set_color("red" if wrong else "lightgrey")
                spine.set_linewidth(2 if wrong else 0.5)
    fig.suptitle(title or "spoken digit -> nearest images")
    fig.tight_layout()
    return fig


def attribution_maps(images, maps: dict, *, titles=None, title: str = "",
                     spectrogram: bool = False):
    """Each image (top row) and, below it, one row per attribution method (chapter 09):
    ``maps`` maps a method's name to an array (n, height, width); each map is scaled to its
    own largest value and drawn over the faint digit. ``spectrogram=True``: the "images"
    are log-mel features (frames, bands, 1), drawn with time to the right and low bands at
    the bottom, each scaled to its own range."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels), got {images.shape}")
    n = len(images)
    for name, values in maps.items():
        if np.shape(values) != images.shape[:3]:
            raise ValueError(f"maps[{name!r}] has shape {np.shape(values)}; the images "
                             f"need {images.shape[:3]}")
    width = 2.0 if spectrogram else 1.3
    fig, axes = plt.subplots(1 + len(maps), n, figsize=(width * n + 1.6, 1.35 * (1 + len(maps))),
                             squeeze=False)
    rows = {"image": None, **maps}
    for r, (name, values) in enumerate(rows.items()):
        for j in range(n):
            ax = axes[r, j]
            shown = images[j].squeeze()
            if spectrogram:
                ax.imshow(shown.T, origin="lower", aspect="auto", cmap="magma",
                          alpha=1.0 if values is None else 0.3)
            else:
                ax.imshow(shown, cmap="gray_r", vmin=0, vmax=1,
                          alpha=1.0 if values is None else 0.25)
            if values is not None:
                heat = np.abs(values[j]) / max(np.abs(values[j]).max(), 1e-12)
                ax.imshow(heat.T if spectrogram else heat, cmap="hot", alpha=0.75,
                          **({"origin": "lower", "aspect": "auto"} if spectrogram else {}))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and titles is not None:
                ax.set_title(str(titles[j]), fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    if spectrogram:
        axes[-1, 0].set_xlabel("time ->, mel bands upwards", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def word_attributions(texts: dict, *, line: int = 90, title: str = ""):
    """Texts with each word coloured by its attribution (chapter 09): ``texts`` maps a
    caption to ``(tokens, scores)`` as ``trust.explain.word_importance`` returns them;
    green pushed towards the class, red away from it, white nothing. Lines wrap at
    ``line`` characters."""
    if not texts:
        raise ValueError("texts is empty: nothing to plot")
    laid_out = {}
    for caption, (tokens, scores) in texts.items():
        if len(tokens) != len(scores):
            raise ValueError(f"{caption!r}: {len(tokens)} tokens but {len(scores)} scores")
        lines, current, used = [], [], 0
        for token, score in zip(tokens, scores, strict=True):
            token = token if len(token) < line else token[:line - 2] + "…"
            if current and used + len(token) > line:
                lines.append(current)
                current, used = [], 0
            current.append((token, float(score)))
            used += len(token) + 1
        laid_out[caption] = lines + [current]
    heights = [len(lines) + 1.5 for lines in laid_out.values()]
    fig, axes = plt.subplots(len(texts), 1, figsize=(line * 0.085, 0.28 * sum(heights) + 0.4),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    colours = plt.get_cmap("PiYG")
    for ax, (caption, lines) in zip(axes[:, 0], laid_out.items(), strict=True):
        largest = max((abs(s) for words in lines for _, s in words), default=0) or 1.0
        ax.set(xlim=(0, line), ylim=(len(lines), -0.6), title=caption)
        ax.axis("off")
        for row, words in enumerate(lines):
            column = 0
            for token, score in words:
                ax.text(column, row, token, family="monospace", fontsize=9, va="top",
                        bbox={"facecolor": colours(0.5 + 0.5 * score / largest),
                              "edgecolor": "none", "pad": 1.0})
                column += len(token) + 1
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def gradient_norms(norms: dict, *, title: str = "gradient reaching each layer"):
    """Chapter 07: ``{network: {layer: gradient norm}}`` (``evaluation.gradient_norms``), one
    line per network against the layer's depth, on a log scale."""
    if not norms:
        raise ValueError("norms is empty: nothing to plot")
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, by_layer in norms.items():
        values = list(by_layer.values())
        ax.semilogy(np.arange(1, len(values) + 1), values, "o-", markersize=3, label=name)
    ax.set(xlabel="layer (1 = next to the input)", ylabel="|dL/dW|", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def label_curve(rows: list[dict], *, x: str = "labels per class",
                title: str = "accuracy against labelled images"):
    """Chapter 07's transfer curve: ``rows`` of ``{x: n, method: accuracy, ...}``, one line
    per method, the label count on a log axis."""
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    counts = [row[x] for row in rows]
    for method in (key for key in rows[0] if key != x):
        ax.plot(counts, [row[method] for row in rows], "o-", label=method)
    ax.set(xscale="log", xlabel=x, ylabel="test accuracy", title=title)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _shade_words(ax, words, *, labels: bool = True) -> None:
    for digit, start, end in words:
        ax.axvspan(start, end, color="tab:orange", alpha=0.15, linewidth=0)
        if labels:
            ax.text((start + end) / 2, 1.0, str(digit), transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=10, color="tab:orange")


def digit_string(wave, words, *, rate: int = 8_000, title: str = ""):
    """A digit string's waveform with each word's span shaded and labelled (chapter 08)."""
    wave = np.asarray(wave).reshape(-1)
    fig, ax = plt.subplots(figsize=(9, 2.2))
    ax.plot(np.arange(len(wave)) / rate, wave, linewidth=0.5)
    _shade_words(ax, words)
    ax.set(xlabel="time (s)", ylabel="amplitude", xlim=(0, len(wave) / rate))
    ax.set_title(title, pad=16)
    fig.tight_layout()
    return fig


def ctc_posteriors(log_mel, probabilities, words, *, frame_seconds: float = 0.02,
                   mel_seconds: float = 0.01, blank: int = 10, title: str = ""):
    """Above, the log-mel spectrogram; below, the probability of each digit and of the blank
    in every output frame, the true words shaded (chapter 08): CTC's spikes."""
    log_mel, probabilities = np.asarray(log_mel), np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != blank + 1:
        raise ValueError(f"probabilities must be (frames, {blank + 1}), got "
                         f"{probabilities.shape}")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.4), sharex=True)
    top.imshow(log_mel.T, origin="lower", aspect="auto", cmap="magma",
               extent=(0, len(log_mel) * mel_seconds, 0, log_mel.shape[1]))
    top.set(ylabel="mel band")
    top.set_title(title, pad=16)
    _shade_words(top, words)
    t = (np.arange(len(probabilities)) + 0.5) * frame_seconds
    bottom.plot(t, probabilities[:, blank], color="0.6", linewidth=1, label="blank")
    colours = plt.get_cmap("tab10")
    for digit in range(blank):
        p = probabilities[:, digit]
        if p.max() > 0.2:
            bottom.plot(t, p, color=colours(digit), linewidth=1.2)
            peak = int(p.argmax())
            bottom.text(t[peak], p[peak] + 0.03, str(digit), color=colours(digit),
                        ha="center", fontsize=9)
    _shade_words(bottom, words, labels=False)
    bottom.set(xlabel="time (s)", ylabel="probability", ylim=(0, 1.12))
    bottom.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    return fig


def stream_timeline(words, emissions, seconds: float, *, title: str = ""):
    """When each digit was said (shaded) and when the streaming recogniser printed it
    (a marker and its digit), on one time line (chapter 08)."""
    fig, ax = plt.subplots(figsize=(10, 1.8))
    _shade_words(ax, words)
    for emission in emissions:
        ax.plot([emission.at], [0.4], marker="v", color="tab:blue")
        ax.text(emission.at, 0.2, str(emission.digit), ha="center", color="tab:blue")
    ax.set(xlim=(0, seconds), ylim=(0, 1), yticks=[], xlabel="time (s): said (shaded, above) "
           "and printed (blue, below)")
    ax.set_title(title, pad=16)
    fig.tight_layout()
    return fig

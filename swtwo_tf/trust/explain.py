"""Attributions of a classifier's decision, and two checks that they are faithful.

Every image method returns one map per image, the image's height x width, for the class
asked (default: the class the model predicts). Gradients are taken of the class's logit
(``models.trust.logits``), which does not saturate as the softmax does. A speech model is
explained over its log-mel features: :func:`split_at` cuts it into the features and the
classifier that reads them, an "image" of frames x mel bands. A text model is explained
word by word, by leaving each word out (:func:`word_importance`).
"""

from __future__ import annotations

import functools
import re

import keras
import numpy as np

from swtwo_tf.models import trust as trust_models


def _images(x) -> np.ndarray:
    x = np.asarray(x, dtype="float32")
    if x.ndim != 4:
        raise ValueError(f"images must be an array (n, height, width, channels), "
                         f"got shape {x.shape}")
    return x


def _classes(model, x, classes) -> np.ndarray:
    if classes is None:
        return np.argmax(np.asarray(trust_models.logits(model, x)), axis=-1)
    classes = np.asarray(classes).reshape(-1)
    if len(classes) != len(x):
        raise ValueError(f"classes has {len(classes)} entries for {len(x)} images")
    return classes


#: Rows per gradient or forward pass: the methods stack their many inputs (noisy copies,
#: points on a path, occluded copies) into batches of this size, not one call each.
CHUNK = 2048


def class_gradients(model: keras.Model, x, classes) -> np.ndarray:
    """d logit[class] / d image, one per image (the image's shape), :data:`CHUNK` at a time."""
    import tensorflow as tf

    x = np.asarray(x, "float32")
    classes = np.asarray(classes)
    out = []
    for start in range(0, len(x), CHUNK):
        xb = tf.convert_to_tensor(x[start:start + CHUNK])
        with tf.GradientTape() as tape:
            tape.watch(xb)
            z = trust_models.logits(model, xb)
            chosen = tf.gather(z, tf.convert_to_tensor(classes[start:start + CHUNK], tf.int32),
                               axis=1, batch_dims=1)
        out.append(tape.gradient(chosen, xb).numpy())
    return np.concatenate(out) if out else np.zeros_like(x)


def _probabilities(model: keras.Model, x) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i:i + CHUNK], training=False))
                           for i in range(0, len(x), CHUNK)])


def gradients(model: keras.Model, x, classes=None) -> np.ndarray:
    """Gradient saliency (Simonyan et al. 2014): |d logit_c / d x|, largest over channels."""
    x = _images(x)
    return np.abs(class_gradients(model, x, _classes(model, x, classes))).max(axis=-1)


def smoothgrad(model: keras.Model, x, classes=None, *, samples: int = 25,
               sigma: float = 0.15, seed: int = 0) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the gradient saliency averaged over ``samples``
    copies of the image with Gaussian noise of standard deviation ``sigma``."""
    x = _images(x)
    classes = _classes(model, x, classes)
    noise = np.random.default_rng(seed).normal(0, sigma, size=(samples, *x.shape))
    noisy = (x[None] + noise.astype("float32")).reshape(-1, *x.shape[1:])
    grads = class_gradients(model, noisy, np.tile(classes, samples))
    return np.abs(grads).max(axis=-1).reshape(samples, *x.shape[:3]).mean(axis=0)


def integrated_gradients(model: keras.Model, x, classes=None, *, baseline=None,
                         steps: int = 64, signed: bool = False) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017), by the trapezoid rule on ``steps``
    intervals of the straight path from ``baseline`` (default: a black image; a number is
    an image of that grey) to ``x``:

    ``IG_i = (x_i - x'_i) * integral_0^1 d logit_c(x' + a (x - x')) / d x_i  da``.

    Their sum over pixels equals ``logit_c(x) - logit_c(x')`` (completeness), up to the
    rule's error. ``signed=True`` returns them per channel as computed; by default, the
    absolute value summed over channels (a map).
    """
    x = _images(x)
    classes = _classes(model, x, classes)
    baseline = np.zeros_like(x) if baseline is None else np.broadcast_to(
        np.asarray(baseline, "float32"), x.shape)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    alphas = np.linspace(0, 1, steps + 1, dtype="float32").reshape(-1, 1, 1, 1, 1)
    path = (baseline[None] + alphas * (x - baseline)[None]).reshape(-1, *x.shape[1:])
    grads = class_gradients(model, path, np.tile(classes, steps + 1)).reshape(
        steps + 1, *x.shape)
    weights = np.full(steps + 1, 1.0 / steps, dtype="float32")
    weights[[0, -1]] /= 2
    attributions = (x - baseline) * np.tensordot(weights, grads, axes=1)
    return attributions if signed else np.abs(attributions).sum(axis=-1)


def last_conv_layer(model: keras.Model):
    """The last layer with a 4-D output that is neither pooling nor dropout: the output of
    the last convolution block (after its batch norm and activation, if any)."""
    skip = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Dropout)
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None) is not None and layer.output.shape
        if shape and len(shape) == 4 and not isinstance(layer, skip):
            return layer
    raise ValueError(f"model {model.name!r} has no convolution block (no layer with a 4-D "
                     "output): Grad-CAM needs one")


def grad_cam(model: keras.Model, x, classes=None, *, layer: str | None = None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) on the last convolution block (or ``layer``):

    ``alpha_k = mean_ij d logit_c / d A^k_ij``,  ``map = ReLU(sum_k alpha_k A^k)``,

    resized to the image's size (bilinear)."""
    import tensorflow as tf

    x = _images(x)
    classes = _classes(model, x, classes)
    target = model.get_layer(layer) if layer else last_conv_layer(model)
    head = model.layers[-1]
    probe = keras.Model(model.inputs[0], [target.output, head.input])
    inputs = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        maps, features = probe(inputs, training=False)
        z = keras.ops.matmul(features, head.kernel) + head.bias
        chosen = tf.gather(z, tf.convert_to_tensor(classes, tf.int32), axis=1, batch_dims=1)
    alpha = tf.reduce_mean(tape.gradient(chosen, maps), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(alpha * maps, axis=-1, keepdims=True))
    return tf.image.resize(cam, x.shape[1:3]).numpy()[..., 0]


def occlusion(model: keras.Model, x, classes=None, *, patch: int = 4, stride: int = 2,
              fill: float = 0.0) -> np.ndarray:
    """Occlusion (Zeiler and Fergus 2014): slide a ``patch`` x ``patch`` square of value
    ``fill`` over the image with ``stride``; a pixel's score is the mean drop of the class's
    probability over the squares that covered it."""
    x = _images(x)
    classes = _classes(model, x, classes)
    rows = np.arange(len(x))
    base = _probabilities(model, x)[rows, classes]
    height, width = x.shape[1:3]
    corners = [(top, left) for top in range(0, height - patch + 1, stride)
               for left in range(0, width - patch + 1, stride)]
    covered = np.repeat(x[None], len(corners), axis=0)
    for k, (top, left) in enumerate(corners):
        covered[k, :, top:top + patch, left:left + patch, :] = fill
    p = _probabilities(model, covered.reshape(-1, *x.shape[1:])).reshape(len(corners), len(x),
                                                                         -1)
    drops = base[None] - p[:, rows, classes]
    total, count = np.zeros(x.shape[:3], "float32"), np.zeros(x.shape[1:3], "float32")
    for k, (top, left) in enumerate(corners):
        total[:, top:top + patch, left:left + patch] += drops[k][:, None, None]
        count[top:top + patch, left:left + patch] += 1
    return total / np.maximum(count, 1)


#: The methods by name, as chapter 09's figures and ``benchmarks/trust.py`` list them. The
#: black baseline of integrated gradients and the black patch of occlusion are MNIST's
#: background: a pixel that is black already cannot change, whatever the model, so those
#: maps follow the digit's strokes; the grey variants (0.5) do not (the sanity check shows it).
METHODS = {"gradient": gradients, "SmoothGrad": smoothgrad,
           "integrated gradients": integrated_gradients,
           "integrated gradients (grey baseline)": functools.partial(integrated_gradients,
                                                                     baseline=0.5),
           "Grad-CAM": grad_cam, "occlusion": occlusion,
           "occlusion (grey patch)": functools.partial(occlusion, fill=0.5)}


def randomised(model: keras.Model, top: int | None = None, seed: int = 0) -> keras.Model:
    """A copy of ``model`` whose ``top`` layers with weights, counted from the output, are
    re-initialised (all of them by default): the cascading randomisation of Adebayo et al.
    (2018). The layers below keep their trained weights."""
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(model)
    fresh.build(model.inputs[0].shape)
    weighted = [i for i, layer in enumerate(model.layers) if layer.weights]
    keep = weighted[:len(weighted) - (len(weighted) if top is None else top)]
    for i in keep:
        fresh.layers[i].set_weights(model.layers[i].get_weights())
    return fresh


def rank_correlation(maps_a, maps_b) -> float:
    """Mean over images of the Spearman rank correlation of two attribution maps (the
    absolute values, as Adebayo et al. compare them). A constant map ranks nothing: its
    correlation with another map counts as 0 (1 with an equal map)."""
    from scipy.stats import spearmanr

    a, b = np.abs(np.asarray(maps_a)), np.abs(np.asarray(maps_b))
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes: {a.shape} and {b.shape}")
    values = [spearmanr(p.ravel(), q.ravel()).statistic if p.std() > 0 and q.std() > 0
              else float(np.array_equal(p, q)) for p, q in zip(a, b, strict=True)]
    return float(np.mean(values))


def sanity_check(model: keras.Model, x, methods=("gradient", "integrated gradients",
                                                "Grad-CAM"), *, seed: int = 0,
                 options: dict | None = None, points: int | None = None) -> dict:
    """The model-randomisation test: for each of ``methods``, the rank correlation between
    its maps of the trained model and of copies with 1, 2, ... and finally all weighted
    layers randomised from the top (``points``: only that many counts, spread evenly, the
    last always all layers). A faithful method's maps change (correlation near 0) once the
    weights do. ``options`` maps a method to its keyword arguments. Returns
    ``{method: {layers randomised: correlation}}``; the classes are the trained model's."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"no attribution method {', '.join(map(repr, unknown))}; "
                         f"there are {', '.join(METHODS)}")
    options = options or {}
    x = _images(x)
    classes = _classes(model, x, None)
    reference = {m: METHODS[m](model, x, classes, **options.get(m, {})) for m in methods}
    weighted = sum(1 for layer in model.layers if layer.weights)
    tops = range(1, weighted + 1) if points is None else sorted(
        {int(t) for t in np.linspace(1, weighted, max(2, points)).round()})
    found = {m: {} for m in methods}
    for top in tops:
        fresh = randomised(model, top, seed)
        for m in methods:
            maps = METHODS[m](fresh, x, classes, **options.get(m, {}))
            found[m][top] = rank_correlation(reference[m], maps)
    return found


def deletion_curve(model: keras.Model, x, y, maps, fractions, *, fill: float = 0.0,
                   seed: int | None = None) -> list[float]:
    """Accuracy as the most-attributed pixels are set to ``fill``: for each fraction f in
    ``fractions``, the top f of each image's pixels by ``maps``. ``seed`` deletes pixels in
    a random order instead (the baseline a faithful map must beat: it falls faster)."""
    x = _images(x)
    y = np.asarray(y)
    maps = np.asarray(maps).reshape(len(x), -1)
    if seed is not None:
        maps = np.random.default_rng(seed).random(maps.shape)
    order = np.argsort(-maps, axis=1)
    flat = x.reshape(len(x), -1, x.shape[-1])
    accuracies = []
    for fraction in fractions:
        k = int(round(fraction * order.shape[1]))
        cut = flat.copy()
        np.put_along_axis(cut, order[:, :k, None], fill, axis=1)
        p = np.asarray(model(cut.reshape(x.shape), training=False))
        accuracies.append(float(np.mean(np.argmax(p, axis=-1) == y)))
    return accuracies


def split_at(model: keras.Model, layer: str) -> tuple[keras.Model, keras.Model]:
    """``(features, head)``: ``model`` cut after the layer named ``layer``, so that
    ``head(features(x))`` is ``model(x)`` (the head holds copies of the layers after the
    cut, with their trained weights). For a speech model cut where its log-mel frames
    become a one-channel image (frames, bands, 1), ``head`` is a classifier of such images
    and every method of :data:`METHODS` explains it over time and frequency."""
    names = [item.name for item in model.layers]
    if layer not in names:
        raise ValueError(f"model {model.name!r} has no layer {layer!r}; its layers are "
                         f"{', '.join(names)}")
    after = model.layers[names.index(layer) + 1:]
    x = cut = keras.Input(model.get_layer(layer).output.shape[1:], name=f"{layer}_output")
    previous = model.get_layer(layer)
    for item in after:  # copies of the layers with their weights: none is shared
        if item.input is not previous.output:
            raise ValueError(f"split_at needs a chain of layers after {layer!r}; "
                             f"{item.name!r} does not read {previous.name!r}'s output")
        copy = item.__class__.from_config(item.get_config())
        x, previous = copy(x), item
        copy.set_weights(item.get_weights())
    return (keras.Model(model.inputs[0], model.get_layer(layer).output,
                        name=f"{model.name}_features"),
            keras.Model(cut, x, name=f"{model.name}_head"))


def share_on_recording(maps, waves, frame_step: int, frame_length: int) -> tuple[float, float]:
    """``(share of the maps' mass, share of the frames)`` on the frames that overlap each
    recording (its first to last non-zero sample; outside is the digital silence that pads
    it). ``maps`` are ``(n, frames, bands)`` over the log-mel frames of ``waves``
    ``(n, samples)``, framed every ``frame_step`` samples ``frame_length`` long (the
    ``LogMelSpectrogram`` layer's settings). A map that explains the word, not the padding,
    has the first share well above the second."""
    maps, waves = np.abs(np.asarray(maps, "float64")), np.asarray(waves)
    if maps.ndim != 3 or waves.ndim != 2 or len(maps) != len(waves):
        raise ValueError(f"maps must be (n, frames, bands) and waves (n, samples) for the "
                         f"same n; got {maps.shape} and {waves.shape}")
    nonzero = waves != 0
    first = np.argmax(nonzero, axis=1)[:, None]
    last = waves.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)[:, None]
    starts = np.arange(maps.shape[1])[None] * frame_step
    inside = (starts <= last) & (starts + frame_length > first)  # (n, frames)
    return float((maps.sum(axis=2) * inside).sum() / maps.sum()), float(inside.mean())


def words(text: str) -> list[str]:
    """``text`` split at white space, HTML line breaks (``<br />``, as in IMDB reviews)
    counting as white space: the tokens that :func:`word_importance` scores."""
    return re.sub(r"<br\s*/?>", " ", str(text)).split()


def word_key(token: str) -> str:
    """A token's word: lower case, without the punctuation around it ("" if none is left)."""
    return token.lower().strip(".,;:!?\"'()[]{}<>/-*`")


def word_importance(predict, text: str, label: int | None = None):
    """Leave-one-word-out attributions of a text classifier (occlusion for words): for each
    distinct word (:func:`word_key`), the probability of ``label`` (default: the predicted
    class) minus that probability with every occurrence of the word removed. ``predict``
    maps a list of strings to probabilities ``(n, classes)``. Returns ``(tokens, scores)``:
    the text's tokens (:func:`words`), and each token's word's score (positive: the word
    pushed towards ``label``)."""
    tokens = words(text)
    keys = [word_key(t) for t in tokens]
    distinct = list(dict.fromkeys(k for k in keys if k))
    if not distinct:
        raise ValueError(f"no words to attribute in {text!r}")
    variants = [" ".join(tokens)] + [
        " ".join(t for t, k in zip(tokens, keys, strict=True) if k != w) for w in distinct]
    p = np.asarray(predict(variants), dtype="float64")
    if p.ndim != 2 or len(p) != len(variants):
        raise ValueError(f"predict must return probabilities (n texts, classes); for "
                         f"{len(variants)} texts it returned shape {p.shape}")
    label = int(np.argmax(p[0])) if label is None else int(label)
    if not 0 <= label < p.shape[1]:
        raise ValueError(f"label {label} is not a class of a model with {p.shape[1]} classes")
    by_word = dict(zip(distinct, p[0, label] - p[1:, label], strict=True))
    return tokens, np.array([by_word.get(k, 0.0) for k in keys])

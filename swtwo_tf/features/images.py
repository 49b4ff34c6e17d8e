"""Your own image file as the image models see it: the one place of image preprocessing.

A photo or scan of one digit or garment becomes an MNIST-like ``(28, 28, 1)`` float32 array
in [0, 1]: grey, the object light on a dark background (a light background is inverted),
the background moved to 0, cropped to the object, fitted in a 20x20 box and centred on a
28x28 canvas, scaled so its brightest pixel is 1.

Two implementations of these steps read the constants below, so they cannot drift apart:

- :func:`load_image_file` (NumPy and Pillow) reads a file: chapter 01, ``swtwo predict``,
  :func:`swtwo_tf.deploy.predict.classify`. It never imports TensorFlow.
- :func:`image_from_bytes` (TensorFlow ops) runs inside the SavedModel that
  :func:`swtwo_tf.deploy.export_savedmodel` writes, on encoded PNG/JPEG bytes (chapter 06).

They agree to within what separates TensorFlow's Lanczos resampling from Pillow's.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: The output canvas, ``CANVAS x CANVAS`` pixels (MNIST's 28).
CANVAS = 28
#: The object is scaled so its longer side is this many pixels (MNIST's 20x20 box).
BOX = 20
#: A border median above this grey level (of 255) means a light background: invert.
INVERT_ABOVE = 127
#: Pixels brighter than this fraction of the brightest one are the object (its bounding box).
INK_THRESHOLD = 0.2


class ImageFileError(ValueError):
    """An image file that cannot be used: missing, corrupt, blank, or not a PNG/JPEG picture."""


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def load_image_file(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG photo or scan of one digit or garment as a (28, 28, 1) float32 array,
    preprocessed like MNIST (see the module docstring).

    Raises :class:`ImageFileError` naming the file when it is missing, empty, corrupt, blank
    or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: no such file (expected a PNG or JPEG image)")
    try:
        with Image.open(path) as img:
            img.load()
            grey = np.asarray(img.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageFileError(
            f"{path}: cannot be read as an image ({exc.__class__.__name__}); "
            "expected a PNG or JPEG file") from None
    if np.median(_border(grey)) > INVERT_ABOVE:  # dark ink on light paper -> light on dark
        grey = 255.0 - grey
    grey = np.clip(grey - np.median(_border(grey)), 0, None)  # background to 0
    mask = grey > INK_THRESHOLD * grey.max() if grey.max() > 0 else None
    if mask is None or not mask.any():
        raise ImageFileError(f"{path}: the image is blank (nothing to recognise)")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    factor = BOX / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize(
        size, Image.Resampling.LANCZOS), dtype=np.float32)
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    top, left = (CANVAS - small.shape[0]) // 2, (CANVAS - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    canvas /= max(canvas.max(), 1.0)
    return canvas[..., None]


def image_from_bytes(data):
    """:func:`load_image_file` in TensorFlow ops, for one encoded PNG/JPEG (a scalar string
    tensor); a blank image gives a black canvas. Runs inside the exported SavedModel."""
    import tensorflow as tf

    grey = tf.cast(tf.io.decode_image(data, channels=1, expand_animations=False)[..., 0],
                   tf.float32)

    def border_median(a):
        edge = tf.sort(tf.concat([a[0], a[-1], a[:, 0], a[:, -1]], 0))
        return edge[tf.shape(edge)[0] // 2]

    grey = tf.cond(border_median(grey) > INVERT_ABOVE, lambda: 255.0 - grey, lambda: grey)
    grey = tf.nn.relu(grey - border_median(grey))
    peak = tf.reduce_max(grey)
    mask = grey > INK_THRESHOLD * peak
    rows = tf.where(tf.reduce_any(mask, axis=1))[:, 0]
    cols = tf.where(tf.reduce_any(mask, axis=0))[:, 0]

    def fitted():
        crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        size = tf.cast(tf.shape(crop), tf.float32)
        factor = BOX / tf.reduce_max(size)
        new = tf.maximum(1, tf.cast(tf.round(size * factor), tf.int32))
        small = tf.clip_by_value(tf.image.resize(crop[..., None], new, method="lanczos3"),
                                 0.0, 255.0)
        top, left = (CANVAS - new[0]) // 2, (CANVAS - new[1]) // 2
        canvas = tf.pad(small, [[top, CANVAS - new[0] - top], [left, CANVAS - new[1] - left],
                                [0, 0]])
        return canvas / tf.maximum(tf.reduce_max(canvas), 1.0)

    blank = tf.logical_or(peak <= 0, tf.size(rows) == 0)
    image = tf.cond(blank, lambda: tf.zeros([CANVAS, CANVAS, 1]), fitted)
    return tf.ensure_shape(image, [CANVAS, CANVAS, 1])

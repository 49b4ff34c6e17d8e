"""``RandomAffine``: a random rotation, shift and zoom of each image, in one resampling.

Keras's ``RandomRotation``, ``RandomTranslation`` and ``RandomZoom`` each resample the whole
batch: three bilinear interpolations (each one blurs a little) and three passes over the
pixels. All three are affine maps of the pixel grid, so their composition is one affine map:
this layer draws the angle, zoom and shift of each image, composes them into one matrix and
resamples once with ``keras.ops.image.affine_transform``. Same ranges as the three Keras
layers; registered as ``"swtwo>RandomAffine"``.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from swtwo_tf.layers import _checks

INTERPOLATIONS = ("bilinear", "nearest")


@keras.saving.register_keras_serializable(package="swtwo")
class RandomAffine(layers.Layer):
    """Rotate, zoom and shift each training image at random, with one resampling.

    Output pixel ``p = (x, y)`` (column, row) reads the input at

        ``q = s R(θ) (p - c) + c - t``

    where ``c`` is the image centre, ``R(θ)`` the rotation by ``θ``, ``s`` the zoom (above 1
    the content shrinks) and ``t`` the shift in pixels; pixels read from outside the image are
    0, between pixels bilinear. Per image, ``θ`` is uniform in ``±rotation`` turns, ``s`` in
    ``1 ± zoom`` and ``t`` in ``±shift`` times the width and height: the ranges of
    ``RandomRotation(rotation)``, ``RandomZoom(zoom)`` and ``RandomTranslation(shift,
    shift)``. Active only in training; at inference the images pass unchanged.

    Args:
        rotation: largest angle, as a fraction of a full turn, in [0, 0.5].
        zoom: largest relative zoom, in [0, 1).
        shift: largest shift, as a fraction of the width and height, in [0, 1).
        interpolation: ``"bilinear"`` or ``"nearest"``.
        seed: seed of the random draws (None: a different sequence each run).

    Example:

    >>> digits = np.zeros((2, 28, 28, 1), "float32")
    >>> RandomAffine(rotation=0.03, zoom=0.1, shift=0.1, seed=0)(digits, training=True).shape
    TensorShape([2, 28, 28, 1])
    """

    def __init__(self, rotation: float = 0.0, zoom: float = 0.0, shift: float = 0.0,
                 interpolation: str = "bilinear", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, value, highest, closed in (("rotation", rotation, 0.5, True),
                                             ("zoom", zoom, 1.0, False),
                                             ("shift", shift, 1.0, False)):
            value = _checks.number(name, value)
            if value < 0 or value > highest or (value == highest and not closed):
                raise ValueError(f"{name} must be in [0, {highest}{']' if closed else ')'}, "
                                 f"got {value!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.rotation, self.zoom, self.shift = float(rotation), float(zoom), float(shift)
        self.interpolation, self.seed = interpolation, _checks.seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_jit = False  # as Keras's image layers: no XLA kernel for the resampling

    @staticmethod
    def matrix(angle, scale, shift_x, shift_y, height: int, width: int):
        """The 8 numbers per image that ``keras.ops.image.affine_transform`` takes for ``q = s
        R(θ) (p - c) + c - t``: ``[a0, a1, a2, b0, b1, b2, 0, 0]`` maps output ``(x, y)`` to
        input ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``. ``angle`` in radians, each argument one
        value per image (tensors of shape ``(n,)``)."""
        cx, cy = (width - 1) / 2, (height - 1) / 2
        a0, a1 = scale * ops.cos(angle), -scale * ops.sin(angle)
        b0, b1 = scale * ops.sin(angle), scale * ops.cos(angle)
        zeros = ops.zeros_like(a0)
        return ops.stack([a0, a1, cx - a0 * cx - a1 * cy - shift_x,
                          b0, b1, cy - b0 * cx - b1 * cy - shift_y, zeros, zeros], axis=1)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape[1:3]):
            raise ValueError("RandomAffine takes a batch of images (n, height, width, "
                             f"channels) of known height and width, got shape {input_shape}")
        super().build(input_shape)

    def call(self, images, training=False):
        if not training:
            return images
        n, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]

        def uniform(limit):
            return keras.random.uniform((n,), -limit, limit, seed=self.seed_generator)

        transform = self.matrix(uniform(self.rotation * 2 * math.pi), 1 + uniform(self.zoom),
                                uniform(self.shift * width), uniform(self.shift * height),
                                height, width)
        return ops.image.affine_transform(images, transform, interpolation=self.interpolation,
                                          fill_mode="constant", data_format="channels_last")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom,
                "shift": self.shift, "interpolation": self.interpolation, "seed": self.seed}

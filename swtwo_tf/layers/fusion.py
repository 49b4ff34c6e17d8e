"""Layers that join two modalities (chapter 10): ``ModalityDropout`` and ``LogitWeights``.

Both take a list ``[image features or logits, audio features or logits]`` and are registered
as ``"swtwo>ModalityDropout"`` and ``"swtwo>LogitWeights"``.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from swtwo_tf.layers import _checks


def _register(cls):
    return keras.saving.register_keras_serializable(package="swtwo")(cls)


def _two(inputs, layer: str):
    if not isinstance(inputs, list | tuple) or len(inputs) != 2:
        raise ValueError(f"{layer} takes a list of two tensors [image, audio], got {inputs!r}")
    return inputs


@_register
class ModalityDropout(layers.Layer):
    """In training, remove one modality of a fraction ``rate`` of the examples.

    A removed modality's features are replaced by ``absent``, the features its encoder gives
    for an empty input (a black image, a silent recording), so that the model learns what to
    do when that input is missing or destroyed. Which modality is removed is drawn at random,
    each as often; outside training the layer passes its inputs through.

    Args:
        rate: Float in [0, 1), the fraction of examples that lose one modality.
        seed: ``None`` or an integer seed.

    Call :meth:`set_absent` with the encoders' features of an empty input after building.

    Example:

    >>> drop = ModalityDropout(0.5, seed=0)
    >>> image, audio = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    >>> out = drop([image, audio], training=True)
    >>> [tuple(x.shape) for x in out]
    [(4, 3), (4, 2)]
    """

    def __init__(self, rate: float = 0.3, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _checks.rate("rate", rate)
        self.seed = _checks.seed(seed)
        self.generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        _two(input_shape, "ModalityDropout")
        self.absent = [self.add_weight(shape=(int(shape[-1]),), initializer="zeros",
                                       trainable=False, name=f"absent_{i}")
                       for i, shape in enumerate(input_shape)]

    def set_absent(self, image_features, audio_features) -> None:
        """The features that stand for a missing image and a missing recording."""
        for weight, value in zip(self.absent, (image_features, audio_features), strict=True):
            weight.assign(ops.reshape(ops.convert_to_tensor(value, "float32"), weight.shape))

    def call(self, inputs, training=None):
        image, audio = _two(inputs, "ModalityDropout")
        if not training or self.rate == 0:
            return [image, audio]
        batch = ops.shape(image)[0]
        dropped = keras.random.uniform((batch, 1), seed=self.generator) < self.rate
        image_side = keras.random.uniform((batch, 1), seed=self.generator) < 0.5
        image = ops.where(dropped & image_side, self.absent[0][None, :], image)
        audio = ops.where(dropped & ~image_side, self.absent[1][None, :], audio)
        return [image, audio]

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@_register
class LogitWeights(layers.Layer):
    """Late fusion with learned weights: ``w_image * z_image + w_audio * z_audio + b``.

    ``z_image`` and ``z_audio`` are the two models' logits (one per class); the two weights
    start at 0.5 (the plain average) and the bias ``b`` (one per class) at 0.

    Example:

    >>> z = LogitWeights()([np.ones((1, 3), "float32"), 3 * np.ones((1, 3), "float32")])
    >>> np.asarray(z).tolist()
    [[2.0, 2.0, 2.0]]
    """

    def build(self, input_shape):
        _two(input_shape, "LogitWeights")
        self.weights_per_modality = self.add_weight(
            shape=(2,), initializer=keras.initializers.Constant(0.5), name="modality_weights")
        self.bias = self.add_weight(shape=(int(input_shape[0][-1]),), initializer="zeros",
                                    name="bias")

    def call(self, inputs):
        image, audio = _two(inputs, "LogitWeights")
        w = self.weights_per_modality
        return w[0] * image + w[1] * audio + self.bias

    def compute_output_shape(self, input_shape):
        return input_shape[0]

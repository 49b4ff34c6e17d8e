"""``FusedBatchNormalization``: Keras's batch norm computed by TensorFlow's one-kernel op.

Keras 3's ``BatchNormalization`` computes the batch mean and variance, then normalises, scales
and shifts, with separate operations (``ops.moments``, ``ops.batch_normalization``): on a CPU
each one reads and writes the whole feature map, and so does each of their gradients. For the
28x28 maps of the kit's image CNNs that is a third of a training step
(``benchmarks/profile.py``). TensorFlow's ``FusedBatchNormV3`` does the same arithmetic in one
kernel forward and one backward (tf.keras 2 used it by default, ``fused=True``). This layer
is ``keras.layers.BatchNormalization`` with the same weights, the same formula and the same
moving statistics; only the kernel that computes it changes, for 4-D channels-last inputs.
Other inputs (a dense layer's 2-D output, a mask, ``renorm``, ``synchronized``) go to the
parent's code. Registered as ``"swtwo>FusedBatchNormalization"``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="swtwo")
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` on TensorFlow's fused kernel (same arguments).

    In training, each channel is normalised by the batch's mean and (biased) variance and
    the moving statistics move towards them by ``1 - momentum``; in inference the moving
    statistics normalise, as in Keras.

    Example:

    >>> x = np.random.default_rng(0).normal(3, 2, (8, 4, 4, 2)).astype("float32")
    >>> fused, plain = FusedBatchNormalization(), keras.layers.BatchNormalization()
    >>> bool(np.allclose(fused(x, training=True), plain(x, training=True), atol=1e-4))
    True
    """

    def _fusable(self, inputs, mask) -> bool:
        return (mask is None and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and self.center and self.scale and not self.renorm and not self.synchronized)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)  # as Keras does: statistics in float32
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
            # The kernel returns the unbiased variance (n - 1 in the denominator); Keras's
            # moving variance follows the biased one.
            count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
            variance = variance * (count - 1.0) / count
            self.moving_mean.assign(
                self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, self.gamma, self.beta, mean=self.moving_mean,
                variance=self.moving_variance, epsilon=self.epsilon, is_training=False)
        return tf.cast(y, self.compute_dtype)

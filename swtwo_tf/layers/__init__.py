"""The one place of the kit's custom Keras layers.

- :mod:`swtwo_tf.layers.audio` (chapters 03-04, 06): the speech models' feature front end,
  ``LogMelSpectrogram``, ``MFCC``, ``UtteranceNormalization``, and their training-only
  augmentation, ``AddNoise``, ``TimeShift``, ``SpeedPerturb``, ``SpecAugment``.
- :mod:`swtwo_tf.layers.text` (chapter 05): ``NaiveBayesLogits``, ``MaskedGlobalMaxPooling1D``,
  ``TokenAndPositionEmbedding``, ``TransformerBlock``.
- :mod:`swtwo_tf.layers.fusion` (chapter 10): ``ModalityDropout``, ``LogitWeights``.
- :mod:`swtwo_tf.layers.normalization` (chapters 01-02, 07): ``FusedBatchNormalization``,
  Keras's batch norm on TensorFlow's one-kernel op, in the image CNNs.
- :mod:`swtwo_tf.layers.images` (chapter 01): ``RandomAffine``, the digits' rotation, zoom and
  shift in one resampling.

Every layer is registered with ``keras.saving.register_keras_serializable(package="swtwo")``
under its class name (``"swtwo>LogMelSpectrogram"``, ...), so a ``.keras`` file that uses one
loads by that name once the layer's module is imported; importing this package imports them all.
Each layer checks its constructor arguments (a ``ValueError`` names the one that is wrong),
and its ``get_config`` holds all of them, so ``from_config(get_config())`` rebuilds it.
"""

from swtwo_tf.layers import audio, fusion, images, normalization, text

__all__ = ["audio", "fusion", "images", "normalization", "text"]

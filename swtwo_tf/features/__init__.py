"""What turns raw inputs into what the models read.

- ``images`` (chapters 01, 06): your own image files prepared like MNIST, in NumPy and in
  TensorFlow ops.
- ``text`` (chapter 05): text vectorisation (the standardisation and the
  ``TextVectorization`` factory every text model keeps inside itself, and the check of text
  to classify) and word vectors learned from unlabelled reviews.

The audio features are Keras layers and live with the kit's other layers, in
:mod:`swtwo_tf.layers.audio`.
"""

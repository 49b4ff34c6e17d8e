"""A SavedModel that takes raw input, preprocessing included (chapter 06, ``swtwo export``)."""

from __future__ import annotations

import os
from pathlib import Path

from swtwo_tf import files
from swtwo_tf.deploy.predict import input_kind


def export_savedmodel(model, path: str | os.PathLike) -> Path:
    """Write ``model`` as a SavedModel whose ``serve`` signature takes raw input.

    - image models: ``serve(images)``, a batch of encoded PNG/JPEG files as strings
      (``tf.io.read_file``), preprocessed in TensorFlow ops as ``load_image_file`` does
      (:func:`swtwo_tf.features.images.image_from_bytes`);
    - speech models: ``serve(waveforms)``, float32 ``(batch, samples)`` at 8 kHz in [-1, 1],
      any number of samples (padded with silence or cut to the model's input length);
    - text models: ``serve(texts)``, a batch of strings.

    ``path`` is a new folder (``ValueError`` if it exists), written atomically. Returns it.
    Load it with ``tf.saved_model.load(path).serve(...)``, from Python, TensorFlow Serving or
    any TensorFlow runtime, without this package.
    """
    import keras
    import tensorflow as tf

    from swtwo_tf.features.images import image_from_bytes

    path = Path(path)
    if path.exists():
        raise ValueError(f"{path} exists: choose a new folder for the SavedModel")
    kind = input_kind(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if kind == "image":
        def serve(images):
            x = tf.map_fn(image_from_bytes, images, fn_output_signature=tf.float32)
            return model(x, training=False)
        spec = tf.TensorSpec([None], tf.string, name="images")
    elif kind == "audio":
        length = int(model.inputs[0].shape[1])

        def serve(waveforms):
            x = waveforms[:, :length]
            x = tf.pad(x, [[0, 0], [0, length - tf.shape(x)[1]]])
            return model(tf.ensure_shape(x, [None, length]), training=False)
        spec = tf.TensorSpec([None, None], tf.float32, name="waveforms")
    else:
        def serve(texts):
            return model(texts, training=False)
        spec = tf.TensorSpec([None], tf.string, name="texts")
    archive.add_endpoint("serve", serve, input_signature=[spec])
    return files.atomic_save(path, lambda tmp: archive.write_out(str(tmp), verbose=False))

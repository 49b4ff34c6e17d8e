"""Classify your own input with a trained model: the one path behind ``swtwo predict`` and the
chapters' "your own image / recording / sentence" sections.

- :func:`load_model`: a ``.keras`` file (Keras safe mode) or a ``.tflite`` file (the LiteRT
  interpreter, without importing TensorFlow), with the ``metrics.json`` beside it;
- :func:`input_kind`: ``"image"``, ``"audio"``, ``"text"`` or ``"image+audio"`` (chapter 10's
  fused models, which take an image and a recording together), read from the model's inputs;
- :func:`classify`: files (PNG/JPEG, WAV, ``.txt``) and strings, read the way the model was
  trained, through the model; one result per input (per image and recording, for a fused
  model).

Reading a PNG or WAV for a ``.tflite`` model imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from swtwo_tf.deploy.runtime import TFLiteModel

#: The files :func:`classify` reads for each kind of model.
SUFFIXES = {"image": (".png", ".jpg", ".jpeg"), "audio": (".wav",), "text": (".txt",)}
#: The input names of a fused image-and-recording model (``models.fusion.fused_model``).
PAIR_INPUTS = ("image", "waveform")
#: The inputs of a digit-string recogniser (chapter 08, ``models.ctc``; ``swtwo transcribe``).
STRING_INPUTS = ("samples", "waveform")


def _input_spec(model) -> tuple[tuple, str, str]:
    """``(shape of one example, dtype, name)`` of a Keras model or a TFLite model."""
    if isinstance(model, TFLiteModel):
        return tuple(model.input_shape), model.input_dtype, str(model.path or "model bytes")
    spec = model.inputs[0]
    return tuple(spec.shape[1:]), str(spec.dtype), model.name


def input_kind(model) -> str:
    """``"text"``, ``"audio"`` or ``"image"``: what a course model takes, from its input:
    strings, one axis per example (a waveform), or two or three (an image); or
    ``"image+audio"`` (a fused model, chapter 10) and ``"digit strings"`` (a recogniser of
    waveform and length, chapter 08).

    ``model`` is a Keras model or a :class:`~swtwo_tf.deploy.runtime.TFLiteModel`."""
    if not isinstance(model, TFLiteModel) and len(model.inputs) == 2:
        names = sorted(_input_names(model))
        if names == sorted(PAIR_INPUTS):
            return "image+audio"
        if names == sorted(STRING_INPUTS):
            return "digit strings"
        raise ValueError(f"model {model.name} takes two inputs named {names}; a fused model "
                         f"of this course takes {' and '.join(PAIR_INPUTS)}")
    shape, dtype, name = _input_spec(model)
    if "string" in dtype:
        return "text"
    if len(shape) == 1:
        return "audio"
    if len(shape) in (2, 3):
        return "image"
    raise ValueError(f"model {name} takes {shape} {dtype} per example: not an image, audio "
                     "or text model of this course")


def load_model(path: str | os.PathLike):
    """``(model, meta)``: a trained model and the metadata ``swtwo train`` wrote beside it
    (``metrics.json``, with ``class_names``; ``{}`` when there is none).

    A ``.tflite`` file loads as a :class:`~swtwo_tf.deploy.runtime.TFLiteModel` without
    importing TensorFlow (the fast path of ``swtwo predict``); a ``.keras`` file loads in
    Keras safe mode, the course's custom layers registered. ``ValueError`` naming the file
    for anything else.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (expected a trained .keras or .tflite model)")
    meta_path = path.parent / "metrics.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if path.suffix == ".tflite":
        return TFLiteModel(path), meta
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a Keras model file (expected a .keras file saved by "
                         "model.save or swtwo train, or a .tflite file from swtwo export)")
    import keras

    import swtwo_tf.features.text  # noqa: F401  (registers the text standardisation)
    import swtwo_tf.layers  # noqa: F401  (registers the kit's custom layers)
    import swtwo_tf.models.ctc  # noqa: F401  (registers the digit-string recogniser)
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a damaged archive
        raise ValueError(f"{path}: cannot be loaded as a Keras model "
                         f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None
    return model, meta


def check_dataset(model, dataset: str) -> None:
    """ValueError unless ``dataset`` (a registered name) holds the kind of input ``model``
    takes (:func:`input_kind`)."""
    from swtwo_tf import datasets

    kind, modality = input_kind(model), datasets.get_spec(dataset).modality
    if kind == "digit strings" or dataset == "digit_strings":  # chapter 08's recogniser
        if kind != "digit strings" or dataset != "digit_strings":
            raise ValueError(f"{_input_spec(model)[2]}: digit-string recognisers go with the "
                             f"digit_strings dataset only, got a {kind} model and {dataset}")
        return
    if modality != kind:
        expected = " or ".join(datasets.names(kind)) or f"a dataset of {kind} input"
        raise ValueError(f"{_input_spec(model)[2]}: a model for {kind} input cannot be used "
                         f"with {dataset}; expected {expected}")


def class_names_for(model, meta: dict | None = None, dataset: str | None = None) -> list[str]:
    """The labels of ``model``'s outputs: ``dataset``'s (checked against the model), else the
    ``class_names`` ``swtwo train`` wrote in ``meta``, else those of the first registered
    dataset of the model's kind."""
    from swtwo_tf import datasets

    if dataset:
        check_dataset(model, dataset)
        return list(datasets.get_spec(dataset).class_names)
    if meta and meta.get("class_names"):
        return list(meta["class_names"])
    return list(datasets.get_spec(datasets.names(input_kind(model))[0]).class_names)


def _file(item, kind: str) -> Path:
    """``item`` as the path of an existing file of the kind the model reads."""
    if not isinstance(item, str | os.PathLike):
        raise ValueError(f"{item!r} is a {type(item).__name__}: the model takes {kind} input; "
                         "expected the path of a file")
    path = Path(item)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    expected = SUFFIXES[kind]
    if path.suffix.lower() not in expected:
        raise ValueError(f"{path}: the model takes {kind} input; expected a "
                         f"{'/'.join(e.lstrip('.').upper() for e in expected)} file")
    return path


def _wave(path: Path, length: int) -> np.ndarray:
    """A WAV file as the speech models were trained: mono, 8 kHz, the word cut out
    (``speech.endpoint``, which keeps 0.1 s either side), cropped or padded to the model's
    ``length`` samples; ``AudioFileError`` if the speech is longer than that plus the margins."""
    from swtwo_tf.datasets import speech

    wave = speech.load_wav(path)
    if len(wave) > length + 0.2 * speech.SAMPLE_RATE:
        raise speech.AudioFileError(
            f"{path}: {len(wave) / speech.SAMPLE_RATE:.2f} s of speech after endpointing; "
            f"the model hears at most {length / speech.SAMPLE_RATE:g} s")
    return speech.fix_length(wave, length)


def _texts(inputs) -> list[str]:
    """Strings as they are and ``.txt`` files (paths) read as UTF-8, checked non-empty."""
    from swtwo_tf.features.text import TextInputError, check_sentences

    texts = []
    for item in inputs:
        if isinstance(item, os.PathLike):
            path = _file(item, "text")
            try:
                item = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{path}: not UTF-8 text") from None
            if not item.strip():
                raise TextInputError(f"{path}: the file is empty: there is nothing to classify")
        texts.append(item)
    return check_sentences(texts)


def _pairs(model, inputs) -> tuple[list[str], dict]:
    """A fused model's inputs: images and WAV files, the i-th image with the i-th recording."""
    from swtwo_tf.features.images import load_image_file

    paths = [Path(item) if isinstance(item, str | os.PathLike) else item for item in inputs]
    images = [p for p in paths if isinstance(p, Path) and p.suffix.lower() in SUFFIXES["image"]]
    waves = [p for p in paths if isinstance(p, Path) and p.suffix.lower() in SUFFIXES["audio"]]
    if len(images) + len(waves) != len(paths) or len(images) != len(waves):
        raise ValueError(f"a fused model takes an image (PNG/JPEG) and a recording (WAV) per "
                         f"prediction, the i-th image with the i-th recording; got "
                         f"{len(images)} image(s), {len(waves)} recording(s) and "
                         f"{len(paths) - len(images) - len(waves)} other input(s)")
    images = [_file(p, "image") for p in images]
    waves = [_file(p, "audio") for p in waves]
    length = int(dict(zip(_input_names(model), (tuple(t.shape[1:]) for t in model.inputs),
                          strict=True))["waveform"][0])
    x = {"image": np.stack([load_image_file(p) for p in images]),
         "waveform": np.stack([_wave(p, length) for p in waves])}
    return [f"{i} + {w}" for i, w in zip(images, waves, strict=True)], x


def _input_names(model) -> list[str]:
    return [getattr(t, "name", "").split(":")[0] for t in model.inputs]


def classify(model, inputs, *, class_names, top_k: int = 3) -> list[dict]:
    """Your own inputs through a trained Keras or TFLite ``model``: one dict per input, in order.

    ``inputs`` is a list (or a single item) of what the model's kind (:func:`input_kind`)
    reads, each prepared the way the model was trained:

    - image models: paths of PNG/JPEG files (:func:`swtwo_tf.features.images.load_image_file`);
    - audio models: paths of WAV files (``datasets.speech.load_wav``: mono, 8 kHz, the word
      cut out by voice-activity detection, then fitted to the model's input length; longer
      speech is refused);
    - text models: strings, and ``.txt`` files given as ``pathlib.Path`` (a ``str`` is
      always the text itself);
    - fused image-and-recording models (chapter 10): images and WAV files, the i-th image
      paired with the i-th recording; ``input`` is then ``"image + recording"``.

    ``class_names`` name the model's outputs in order. Each dict holds ``input`` (the file's
    path, or the text), ``label``, its ``probability``, and ``top``: the ``top_k``
    ``(label, probability)`` pairs, most likely first. A ``ValueError`` subclass names the
    input that cannot be used and what was expected (``ImageFileError``, ``AudioFileError``,
    ``TextInputError``).
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise ValueError("nothing to predict: give files, or texts for a text model")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    kind = input_kind(model)
    if kind == "image+audio":
        names, x = _pairs(model, inputs)
    elif kind == "text":
        texts = _texts(inputs)
        names = [str(item) if isinstance(item, os.PathLike) else item for item in inputs]
        x = np.array(texts, dtype=object)
    else:
        paths = [_file(item, kind) for item in inputs]
        names = [str(path) for path in paths]
        if kind == "image":
            from swtwo_tf.features.images import load_image_file

            x = np.stack([load_image_file(path) for path in paths])
        else:
            length = int(_input_spec(model)[0][0])
            x = np.stack([_wave(path, length) for path in paths])
    if isinstance(model, TFLiteModel):
        probabilities = model.predict(x)
    else:
        probabilities = np.asarray(model.predict(x, batch_size=64, verbose=0))
    if probabilities.shape[-1] != len(class_names):
        raise ValueError(f"the model gives {probabilities.shape[-1]} probabilities per input, "
                         f"but class_names has {len(class_names)} names")
    rows = []
    for name, p in zip(names, probabilities, strict=True):
        order = np.argsort(-p)[:top_k]
        rows.append({"input": name, "label": class_names[order[0]],
                     "probability": float(p[order[0]]),
                     "top": [(class_names[i], float(p[i])) for i in order]})
    return rows

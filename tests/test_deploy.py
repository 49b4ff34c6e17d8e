"""swtwo_tf.deploy: SavedModel with raw inputs, TFLite variants, the benchmark, and the one
"classify your own input" path (chapters 01, 04, 05, 06, ``swtwo predict``)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from PIL import Image

from swtwo_tf import deploy, files
from swtwo_tf.datasets.speech import LENGTH
from swtwo_tf.deploy import predict
from swtwo_tf.features.images import ImageFileError, image_from_bytes, load_image_file
from swtwo_tf.layers import audio
from swtwo_tf.models import speech as speech_models
from swtwo_tf.models import text as text_models
from swtwo_tf.models import vision

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def image_model():
    return vision.convnet()


@pytest.fixture(scope="module")
def images():
    return RNG.random((96, 28, 28, 1), dtype=np.float32)


@pytest.fixture(scope="module")
def waves():
    return (RNG.standard_normal((5, LENGTH)) * 0.1).astype(np.float32)


def test_mfcc_layer_equals_tf_signal():
    log_mel = tf.random.stateless_normal([2, 30, 40], seed=[1, 2])
    expected = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :13]
    np.testing.assert_allclose(audio.MFCC(13)(log_mel), expected, atol=1e-5)


@pytest.mark.slow
def test_float_tflite_matches_keras_and_quantised_ones_are_3x_smaller(image_model, images):
    reference = image_model.predict(images, verbose=0)
    sizes = {}
    for variant, tolerance in (("float32", 1e-4), ("dynamic", 0.05), ("int8", 0.1)):
        content = deploy.to_tflite(image_model, variant, representative=images)
        lite = deploy.TFLiteModel(content)
        assert lite.batch_size is None and lite.input_shape == (28, 28, 1)
        got = lite.predict(images, batch_size=40)  # 40 + 40 + 16: resized between chunks
        assert got.shape == reference.shape
        np.testing.assert_allclose(got, reference, atol=tolerance, err_msg=variant)
        sizes[variant] = len(content)
    assert sizes["float32"] > 3 * sizes["dynamic"] and sizes["float32"] > 3 * sizes["int8"]


@pytest.mark.slow
def test_recurrent_model_converts_for_a_fixed_batch_and_refuses_int8(waves):
    model = speech_models.rnn_classifier()
    assert deploy.is_recurrent(model) and not deploy.is_recurrent(speech_models.cnn_classifier())
    lite = deploy.TFLiteModel(deploy.to_tflite(model))
    assert lite.batch_size == 1
    np.testing.assert_allclose(lite.predict(waves), model.predict(waves, verbose=0), atol=1e-4)
    four = deploy.TFLiteModel(deploy.to_tflite(model, "dynamic", batch_size=4))
    assert four.batch_size == 4 and four.predict(waves).shape == (5, 10)  # last chunk padded
    with pytest.raises(ValueError, match="recurrent layers.*'dynamic' variant"):
        deploy.to_tflite(model, "int8", representative=waves)


def test_to_tflite_rejects_bad_requests(image_model):
    with pytest.raises(ValueError, match="variant must be one of float32, dynamic, int8"):
        deploy.to_tflite(image_model, "int4")
    with pytest.raises(ValueError, match="needs representative= training inputs"):
        deploy.to_tflite(image_model, "int8")
    text_model = text_models.bag_of_ngrams(["good film", "bad film"] * 4)
    with pytest.raises(ValueError, match="split_text_model"):
        deploy.to_tflite(text_model)


@pytest.mark.slow
def test_text_model_splits_into_vectoriser_and_a_numeric_part_that_converts():
    texts = ["a good film", "a bad film", "good acting, bad story", "fine"] * 3
    model = text_models.bag_of_ngrams(texts)
    vectorize, numeric = deploy.split_text_model(model)
    vectors = np.asarray(vectorize(tf.constant(texts)))
    np.testing.assert_allclose(numeric.predict(vectors, verbose=0),
                               model.predict(tf.constant(texts), verbose=0), atol=1e-6)
    lite = deploy.TFLiteModel(deploy.to_tflite(numeric, "int8", representative=vectors))
    assert lite.predict(vectors).argmax(-1).tolist() == \
        numeric.predict(vectors, verbose=0).argmax(-1).tolist()
    with pytest.raises(ValueError, match="expected exactly one"):
        deploy.split_text_model(vision.seed_cnn())


@pytest.mark.slow
def test_savedmodel_takes_raw_image_bytes(image_model, tmp_path):
    files = sorted((SAMPLES / "images").glob("*.png"))
    served = tf.saved_model.load(str(deploy.export_savedmodel(image_model, tmp_path / "img")))
    got = np.asarray(served.serve(tf.constant([f.read_bytes() for f in files])))
    expected = image_model.predict(np.stack([load_image_file(f) for f in files]), verbose=0)
    np.testing.assert_allclose(got, expected, atol=0.02)  # TF's lanczos vs Pillow's
    with pytest.raises(ValueError, match="exists: choose a new folder"):
        deploy.export_savedmodel(image_model, tmp_path / "img")


@pytest.mark.slow
def test_savedmodel_takes_any_length_of_waveform_and_raw_strings(waves, tmp_path):
    model = speech_models.cnn_classifier()
    served = tf.saved_model.load(str(deploy.export_savedmodel(model, tmp_path / "speech")))
    short = waves[:2, :3000]
    padded = np.pad(short, [(0, 0), (0, LENGTH - 3000)])
    np.testing.assert_allclose(served.serve(tf.constant(short)),
                               model.predict(padded, verbose=0), atol=1e-5)
    long = np.concatenate([waves[:2], waves[:2]], axis=1)
    np.testing.assert_allclose(served.serve(tf.constant(long)),
                               model.predict(waves[:2], verbose=0), atol=1e-5)
    texts = ["a good film", "a bad film"] * 3
    text_model = text_models.bag_of_ngrams(texts)
    served = tf.saved_model.load(str(deploy.export_savedmodel(text_model, tmp_path / "text")))
    np.testing.assert_allclose(served.serve(tf.constant(texts[:2])),
                               text_model.predict(tf.constant(texts[:2]), verbose=0), atol=1e-6)


@pytest.mark.slow
def test_tflite_model_errors_name_the_problem(tmp_path, image_model, images):
    with pytest.raises(ValueError, match="no such file"):
        deploy.TFLiteModel(tmp_path / "missing.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.tflite: not a TFLite model"):
        deploy.TFLiteModel(tmp_path / "junk.tflite")
    lite = deploy.TFLiteModel(files.atomic_write(tmp_path / "m.tflite",
                                                 deploy.to_tflite(image_model)))
    assert deploy.input_kind(lite) == "image"
    with pytest.raises(ValueError, match=r"shape \(28, 28\) per example; the model takes"):
        lite.predict(images[..., 0])


@pytest.mark.slow
def test_benchmark_measures_every_variant_and_reports_what_it_cannot_make(waves):
    model = speech_models.rnn_classifier(units=8, conv_filters=8)
    labels = np.arange(len(waves))
    rows = deploy.benchmark(model, waves, labels, representative=waves, runs=3, log=lambda m: None)
    assert [r["variant"] for r in rows] == ["keras (TensorFlow)", "tflite float32",
                                            "tflite dynamic", "tflite int8"]
    for row in rows[:3]:
        assert row["bytes"] > 0 and 0 < row["p50_ms"] <= row["p95_ms"] and row["per_second"] > 0
    assert rows[1]["accuracy"] == rows[0]["accuracy"]
    assert rows[3]["bytes"] is None and "recurrent layers" in rows[3]["note"]
    table = deploy.format_benchmark(rows)
    assert "tflite int8 not made: model" in table and "recurrent layers" in table
    line = next(row for row in table.splitlines() if row.startswith("tflite int8 "))
    assert line.split()[2:] == ["not", "made"] + ["-"] * 6, line
    assert "1.0x" in table and table.splitlines()[1].startswith("-------")


@pytest.mark.slow
def test_int8_keeps_the_audio_front_end_in_float_and_the_network_in_int8(waves):
    model = speech_models.cnn_classifier()
    kept = deploy.float_front_end(model)
    assert [name.split("_")[0] for name in kept] == ["log", "utterance"], kept
    lite = deploy.TFLiteModel(deploy.to_tflite(model, "int8", representative=waves))
    dtypes = {t["name"]: np.dtype(t["dtype"]).name
              for t in lite.interpreter.get_tensor_details()}
    assert any("log_mel" in n and d == "float32" for n, d in dtypes.items())
    assert any("dense" in n and d == "int8" for n, d in dtypes.items())
    np.testing.assert_allclose(lite.predict(waves), model.predict(waves, verbose=0), atol=0.1)


@pytest.mark.slow
def test_int8_refuses_to_ship_a_front_end_the_quantiser_did_not_keep_float(waves, monkeypatch):
    # The denylist goes by tensor name; an op it misses (tf.split's two outputs did) would
    # quantise the spectrum and halve the accuracy. Simulate a quantiser that ignores it.
    real = tf.lite.experimental.QuantizationDebugOptions
    monkeypatch.setattr(tf.lite.experimental, "QuantizationDebugOptions", lambda **_: real())
    with pytest.raises(RuntimeError, match=r"quantised \d+ tensor\(s\) of the layers it must "
                                           r"keep float \(log_mel, utterance_normalization"):
        deploy.to_tflite(speech_models.cnn_classifier(), "int8", representative=waves)


@pytest.mark.slow
def test_dynamic_range_leaves_the_spectrum_in_float(waves):
    """The mel filterbank comes in blocks small enough that dynamic-range quantisation skips
    them; as one matrix it became a hybrid int8 op on the spectrum (RNN: 97.2 % -> 94.0 %).
    The windowed DFT before it (one matrix at export, ``audio.with_spectrum``) may be int8: it
    reads the waveform, not a spectrum's 10^8 range (speech CNN and RNN lose nothing)."""
    model = speech_models.cnn_classifier()
    lite = deploy.TFLiteModel(deploy.to_tflite(model, "dynamic"))
    int8 = {t["name"]: tuple(t["shape"]) for t in lite.interpreter.get_tensor_details()
            if np.dtype(t["dtype"]) == np.int8}
    front = {name: shape for name, shape in int8.items() if "log_mel" in name}
    assert len(int8) > len(front) and set(front.values()) <= {(258, 256)}, int8
    np.testing.assert_allclose(lite.predict(waves), model.predict(waves, verbose=0), atol=0.02)


# ------------------------------------------------------------------ image preprocessing twice
def test_tensorflow_image_preprocessing_matches_the_file_loader(tmp_path):
    """``image_from_bytes`` (in the SavedModel) and ``load_image_file`` (files) are the same
    steps on the same constants: equal but for TensorFlow's and Pillow's Lanczos resampling."""
    paper = np.full((200, 160), 240, np.uint8)
    paper[40:160, 70:90] = 20  # dark ink on light paper: both must invert it
    Image.fromarray(paper).save(tmp_path / "one.jpg")
    for path in [*sorted((SAMPLES / "images").glob("*.png")), tmp_path / "one.jpg"]:
        expected = load_image_file(path)
        got = np.asarray(image_from_bytes(tf.constant(path.read_bytes())))
        assert got.shape == expected.shape == (28, 28, 1), path.name
        difference = np.abs(got - expected)
        assert difference.mean() < 0.02 and difference.max() < 0.15, path.name
        assert ((got > 0.5) == (expected > 0.5)).mean() > 0.98, path.name
    Image.fromarray(np.zeros((40, 30), np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(ImageFileError, match="blank"):
        load_image_file(tmp_path / "blank.png")
    blank = image_from_bytes(tf.constant((tmp_path / "blank.png").read_bytes()))
    assert float(tf.reduce_max(blank)) == 0.0  # in a graph: a black canvas, no error


# ------------------------------------------------------------------ the runtime without TF
def test_runtime_module_imports_no_tensorflow_or_keras():
    source = Path(deploy.runtime.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):  # every import, top level or inside a function
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "ai_edge_litert" in imported
    assert not imported & {"tensorflow", "keras", "tf_keras", "swtwo_tf"}, imported
    assert "__import__" not in source and "importlib" not in source


# ------------------------------------------------------------------ deploy.predict
DIGITS = [str(d) for d in range(10)]


@pytest.mark.slow
def test_load_model_and_classify_a_tflite_model_without_tensorflow(image_model, tmp_path):
    files.atomic_write(tmp_path / "model.tflite", deploy.to_tflite(image_model))
    files.write_json(tmp_path / "metrics.json", {"class_names": DIGITS})
    images = [str(SAMPLES / "images" / name) for name in ("digit_3.png", "digit_7.png")]
    code = ("import sys; from swtwo_tf.deploy import predict; "
            f"model, meta = predict.load_model({str(tmp_path / 'model.tflite')!r}); "
            "assert predict.input_kind(model) == 'image' and model.input_dtype == 'float32'; "
            f"rows = predict.classify(model, {images!r}, class_names=meta['class_names']); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
            "import json; print(json.dumps(rows))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    keras_rows = predict.classify(image_model, images, class_names=DIGITS)
    assert [r["input"] for r in rows] == images == [r["input"] for r in keras_rows]
    assert [r["label"] for r in rows] == [r["label"] for r in keras_rows]
    for lite_row, keras_row in zip(rows, keras_rows, strict=True):
        assert lite_row["probability"] == pytest.approx(keras_row["probability"], abs=1e-4)


def test_load_model_names_what_is_wrong(tmp_path, image_model):
    (tmp_path / "model.keras").write_text("not a zip")
    (tmp_path / "junk.tflite").write_bytes(b"junk")
    for path, message in ((tmp_path / "nope.keras", "nope.keras: no such file"),
                          (tmp_path / "model.keras", "model.keras: not a Keras model file"),
                          (tmp_path / "junk.tflite", "junk.tflite: not a TFLite model")):
        with pytest.raises(ValueError, match=message):
            predict.load_model(path)
    image_model.save(tmp_path / "good.keras")
    model, meta = predict.load_model(tmp_path / "good.keras")
    assert meta == {} and predict.input_kind(model) == "image"
    (tmp_path / "metrics.json").write_text("{broken")
    with pytest.raises(ValueError, match="metrics.json: not valid JSON"):
        predict.load_model(tmp_path / "good.keras")


def test_classify_wav_files_top_k_and_what_the_model_cannot_hear(tmp_path):
    model = speech_models.cnn_classifier()
    assert predict.input_kind(model) == "audio"
    voices = SAMPLES / "spoken_digit"
    wavs = [voices / "ava" / "3_ava_0.wav", voices / "ben" / "7_ben_1.wav"]
    rows = predict.classify(model, wavs, class_names=DIGITS, top_k=2)
    assert [r["input"] for r in rows] == [str(f) for f in wavs]
    for row in rows:
        assert len(row["top"]) == 2 and row["label"] == row["top"][0][0]
        assert row["top"][0][1] >= row["top"][1][1] and 0 <= row["probability"] <= 1
    # four words said without a pause: one stretch of speech, too long for one digit
    said = np.concatenate([soundfile.read(voices / "ava" / f"{d}_ava_0.wav", dtype="float32")[0]
                           for d in (3, 7, 0, 8)])
    assert len(said) > 1.3 * 8000
    soundfile.write(tmp_path / "long.wav", said, 8000)
    (tmp_path / "notes.wav").write_text("not audio")
    (tmp_path / "digit.png").write_bytes((SAMPLES / "images" / "digit_3.png").read_bytes())
    for bad, message in ((tmp_path / "long.wav", r"long.wav: 1\.\d\d s of speech after "
                                                 r"endpointing; the model hears at most 1 s"),
                         (tmp_path / "notes.wav", "notes.wav: cannot be read as audio"),
                         (tmp_path / "digit.png", "takes audio input; expected a WAV file"),
                         (tmp_path / "missing.wav", "missing.wav: no such file"),
                         (42, "42 is a int: the model takes audio input")):
        with pytest.raises(ValueError, match=message):
            predict.classify(model, [wavs[0], bad], class_names=DIGITS)
    with pytest.raises(ValueError, match="nothing to predict"):
        predict.classify(model, [], class_names=DIGITS)
    with pytest.raises(ValueError, match="10 probabilities per input, but class_names has 2"):
        predict.classify(model, wavs, class_names=["yes", "no"])


def test_classify_sentences_and_text_files(tmp_path):
    texts = ["a good film", "a bad film", "good acting", "awful"] * 3
    model = text_models.bag_of_ngrams(texts)
    assert predict.input_kind(model) == "text"
    (tmp_path / "review.txt").write_text("A good film.", encoding="utf-8")
    rows = predict.classify(model, ["a great film", tmp_path / "review.txt"],
                            class_names=["negative", "positive"], top_k=5)
    assert [r["input"] for r in rows] == ["a great film", str(tmp_path / "review.txt")]
    assert all(r["label"] in ("negative", "positive") and len(r["top"]) == 2 for r in rows)
    expected = model.predict(tf.constant(["a great film"]), verbose=0)[0]
    assert rows[0]["probability"] == pytest.approx(float(expected.max()), abs=1e-6)
    assert len(predict.classify(model, "one string", class_names=["n", "p"])) == 1
    (tmp_path / "empty.txt").write_text("  ", encoding="utf-8")
    for bad, message in (([""], "text #0 is empty"), (["fine", 42], "text #1 is a int"),
                         ([tmp_path / "empty.txt"], "empty.txt: the file is empty"),
                         ([SAMPLES / "images" / "digit_3.png"],
                          "takes text input; expected a TXT file")):
        with pytest.raises(ValueError, match=message):
            predict.classify(model, bad, class_names=["negative", "positive"])


def test_build_with_policy_restores_the_global_policy():
    import keras

    model = deploy.build_with_policy(vision.dense_baseline, "mixed_bfloat16")
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match="precision must be one of float32, mixed_bfloat16"):
        deploy.build_with_policy(vision.dense_baseline, "float8")

"""swtwo_tf.deploy: SavedModel with raw inputs, TFLite variants, the benchmark (chapter 06)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from swtwo_tf import deploy
from swtwo_tf.datasets.images import load_image_file
from swtwo_tf.datasets.speech import LENGTH
from swtwo_tf.features import audio
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


def test_savedmodel_takes_raw_image_bytes(image_model, tmp_path):
    files = sorted((SAMPLES / "images").glob("*.png"))
    served = tf.saved_model.load(str(deploy.export_savedmodel(image_model, tmp_path / "img")))
    got = np.asarray(served.serve(tf.constant([f.read_bytes() for f in files])))
    expected = image_model.predict(np.stack([load_image_file(f) for f in files]), verbose=0)
    np.testing.assert_allclose(got, expected, atol=0.02)  # TF's lanczos vs Pillow's
    with pytest.raises(ValueError, match="exists: choose a new folder"):
        deploy.export_savedmodel(image_model, tmp_path / "img")


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


def test_tflite_model_errors_name_the_problem(tmp_path, image_model, images):
    with pytest.raises(ValueError, match="no such file"):
        deploy.TFLiteModel(tmp_path / "missing.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.tflite: not a TFLite model"):
        deploy.TFLiteModel(tmp_path / "junk.tflite")
    lite = deploy.TFLiteModel(deploy.save_bytes(deploy.to_tflite(image_model),
                                                tmp_path / "m.tflite"))
    assert deploy.input_kind(lite) == "image"
    with pytest.raises(ValueError, match=r"shape \(28, 28\) per example; the model takes"):
        lite.predict(images[..., 0])


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
    assert "tflite int8          not made" in table and "1.0x" in table


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


def test_int8_refuses_to_ship_a_front_end_the_quantiser_did_not_keep_float(waves, monkeypatch):
    # The denylist goes by tensor name; an op it misses (tf.split's two outputs did) would
    # quantise the spectrum and halve the accuracy. Simulate a quantiser that ignores it.
    real = tf.lite.experimental.QuantizationDebugOptions
    monkeypatch.setattr(tf.lite.experimental, "QuantizationDebugOptions", lambda **_: real())
    with pytest.raises(RuntimeError, match=r"quantised \d+ tensor\(s\) of the layers it must "
                                           r"keep float \(log_mel, utterance_normalization"):
        deploy.to_tflite(speech_models.cnn_classifier(), "int8", representative=waves)


def test_dynamic_range_leaves_the_spectrum_in_float(waves):
    """The mel filterbank comes in blocks small enough that dynamic-range quantisation skips
    them; as one matrix it became a hybrid int8 op on the spectrum (RNN: 97.2 % -> 94.0 %).
    The windowed DFT before it (one matrix at export, ``audio.matrix_dft``) may be int8: it
    reads the waveform, not a spectrum's 10^8 range (speech CNN and RNN lose nothing)."""
    model = speech_models.cnn_classifier()
    lite = deploy.TFLiteModel(deploy.to_tflite(model, "dynamic"))
    int8 = {t["name"]: tuple(t["shape"]) for t in lite.interpreter.get_tensor_details()
            if np.dtype(t["dtype"]) == np.int8}
    front = {name: shape for name, shape in int8.items() if "log_mel" in name}
    assert len(int8) > len(front) and set(front.values()) <= {(258, 256)}, int8
    np.testing.assert_allclose(lite.predict(waves), model.predict(waves, verbose=0), atol=0.02)

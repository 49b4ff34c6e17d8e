"""Chapter 10: the paired digits, corruptions at a severity, fusion layers and heads, the
contrastive embedding."""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import require_real

from swtwo_tf import datasets, evaluation, training
from swtwo_tf.datasets import core, multimodal, speech
from swtwo_tf.layers.fusion import LogitWeights, ModalityDropout
from swtwo_tf.models import fusion


@pytest.fixture(scope="module")
def rec():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SampleDataWarning)
        return speech.recordings()


@pytest.fixture(scope="module")
def held_out(rec):
    require_real("mnist")
    require_real("spoken_digit")
    return multimodal.paired_digits("speaker:theo", recordings=rec)


# ------------------------------------------------------------------ paired data


def test_pairs_agree_on_the_digit_and_hold_the_real_images(held_out, rec):
    x, y = core.arrays("mnist", "train")
    x_test, y_test = core.arrays("mnist", "test")
    for part, pairs in held_out.parts.items():
        assert np.array_equal(rec.labels[pairs.recording_ids], pairs.labels), part
        images, labels = (x_test, y_test) if part == "test" else (x, y)
        assert np.array_equal(labels[pairs.image_ids], pairs.labels), part
        assert np.allclose(pairs.images, images[pairs.image_ids] / 255.0), part
        assert pairs.images.dtype == np.float32 and pairs.waves.shape[1:] == (speech.LENGTH,)
    assert held_out.sizes["test"] == len(x_test)  # every test image, once


def test_parts_never_share_an_image_or_a_recording(held_out):
    parts = held_out.parts
    assert not set(parts["train"].image_ids) & set(parts["validation"].image_ids)
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not set(parts[a].recording_ids) & set(parts[b].recording_ids), (a, b)
    for part in parts.values():
        assert len(set(part.image_ids)) == len(part)  # an image appears in one pair


def test_the_held_out_speaker_is_only_in_the_test_pairs(held_out, rec):
    assert set(held_out.parts["test"].speakers) == {"theo"}
    assert "theo" not in set(held_out.parts["train"].speakers)
    assert "theo" not in set(held_out.parts["validation"].speakers)
    train_recordings = set(speech.split_indices(rec, "speaker:theo")[0])
    used = set(held_out.parts["train"].recording_ids) | set(
        held_out.parts["validation"].recording_ids)
    assert used == train_recordings  # every training recording is used


def test_extra_recordings_are_paired_with_training_images_only(rec, held_out):
    """Extra (e.g. synthetic) voices join the training pairs; the FSDD pairs stay as they were."""
    rng = np.random.default_rng(0)
    extra = speech.Recordings(rng.normal(0, 0.1, (40, speech.LENGTH)).astype(np.float32),
                              np.repeat(np.arange(10), 4), np.array(["tts:a", "tts:b"] * 20),
                              np.tile(np.arange(4), 10), source="synthetic")
    data = multimodal.paired_digits("speaker:theo", recordings=rec, extra=extra)
    train = data.parts["train"]
    assert {"tts:a", "tts:b"} <= set(train.speakers)
    assert np.array_equal(train.recordings.labels[train.recording_ids], train.labels)
    assert set(train.recording_ids) >= set(len(rec.waves) + np.arange(40))  # each one used
    for part in ("validation", "test"):
        assert not {"tts:a", "tts:b"} & set(data.parts[part].speakers), part
        np.testing.assert_array_equal(data.parts[part].waves, held_out.parts[part].waves)


def test_documented_split_tests_on_takes_0_to_4(rec):
    require_real("mnist")
    data = datasets.pipelines("seen_and_heard", split="documented", recordings=rec)
    test = data.parts["test"]
    assert set(rec.indices[test.recording_ids]) <= set(range(5))
    assert min(rec.indices[data.parts["train"].recording_ids]) >= 5


def test_pairing_is_deterministic_and_uses_recordings_evenly():
    images = np.repeat(np.arange(3), [7, 5, 6])
    recordings = np.array([0, 0, 1, 1, 1, 2, 2])
    first = multimodal.pair_by_label(images, recordings, seed=3)
    assert np.array_equal(first, multimodal.pair_by_label(images, recordings, seed=3))
    assert np.array_equal(recordings[first], images)
    uses = np.bincount(first[images == 1], minlength=7)[2:5]
    assert uses.max() - uses.min() <= 1
    with pytest.raises(ValueError, match="no recording of digit 2"):
        multimodal.pair_by_label(images, np.array([0, 1]))


def test_the_pipeline_yields_both_inputs_of_each_pair(held_out):
    pairs = held_out.parts["validation"].subset(np.arange(10))
    (inputs, labels), = multimodal.pipeline(pairs, 10).take(1).as_numpy_iterator()
    assert inputs["image"].shape == (10, 28, 28, 1) and labels.tolist() == pairs.labels.tolist()
    assert np.array_equal(inputs["waveform"], pairs.waves)


# ------------------------------------------------------------------ corruption


def test_image_corruptions_reach_their_severity():
    grey = np.full((400, 28, 28, 1), 0.5, np.float32)
    noisy = multimodal.corrupt_images(grey, "noise", 0.1, seed=1)
    assert abs(np.std(noisy - grey) - 0.1) < 0.005
    ones = np.ones((50, 28, 28, 1), np.float32)
    for severity in (0.25, 0.5, 0.8):
        covered = 1 - multimodal.corrupt_images(ones, "occlusion", severity, seed=2).mean()
        assert abs(covered - severity) < 0.03, severity
    assert multimodal.corrupt_images(ones, "occlusion", 1.0).max() == 0
    dot = np.zeros((1, 28, 28, 1), np.float32)
    dot[0, 14, 14] = 1.0
    blurred = multimodal.corrupt_images(dot, "blur", 0.5)
    assert blurred.max() < 0.1 and abs(blurred.sum() - 1) < 1e-3  # spread, nothing lost
    for kind in multimodal.IMAGE_CORRUPTIONS:
        assert np.array_equal(multimodal.corrupt_images(ones, kind, 0), ones)
        assert np.array_equal(multimodal.corrupt_images(grey, kind, 0.7, seed=5),
                              multimodal.corrupt_images(grey, kind, 0.7, seed=5))


def test_audio_corruptions_reach_their_severity():
    t = np.arange(speech.LENGTH) / speech.SAMPLE_RATE
    waves = np.stack([a * np.sin(2 * np.pi * 440 * t) for a in np.linspace(0.1, 0.9, 300)])
    waves = waves.astype(np.float32)
    for severity in (0.25, 0.75, 1.0):
        target = 30 + severity * (-10 - 30)
        noisy = multimodal.corrupt_audio(waves, "noise", severity, seed=1)
        assert np.allclose(speech.snr_db(waves, noisy), target, atol=0.01)
    clipped = multimodal.corrupt_audio(waves, "clipping", 0.6)
    assert np.allclose(np.abs(clipped).max(axis=1), 0.4 * np.abs(waves).max(axis=1))
    assert not multimodal.corrupt_audio(waves, "clipping", 1.0).any()
    silenced = multimodal.corrupt_audio(waves, "dropout", 0.3, seed=4)
    gone = ~silenced.any(axis=1)
    assert gone.sum() == 90  # 30 % of 300
    assert np.array_equal(silenced[~gone], waves[~gone])


@pytest.mark.parametrize("call, match", [
    (lambda: multimodal.corrupt_images(np.zeros((1, 28, 28, 1)), "fog", 0.5), "fog"),
    (lambda: multimodal.corrupt_images(np.zeros((1, 28, 28, 1)), "noise", 1.5), r"\[0, 1\]"),
    (lambda: multimodal.corrupt_images(np.zeros((28, 28)), "noise", 0.5), r"\(n, 28, 28, 1\)"),
    (lambda: multimodal.corrupt_audio(np.zeros((2, 10)), "blur", 0.5), "noise, clipping"),
    (lambda: multimodal.corrupt_audio(np.zeros(10), "noise", 0.5), r"\(n, samples\)"),
])
def test_bad_corruption_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ layers and heads


def tiny_classifiers(seed: int = 0):
    """Small untrained stand-ins for the image and speech classifiers."""
    keras.utils.set_random_seed(seed)
    image = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")], name="img")
    audio = keras.Sequential([keras.Input((speech.LENGTH,)),
                              keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")], name="aud")
    return image, audio


def test_modality_dropout_removes_one_modality_in_training_only():
    drop = ModalityDropout(0.5, seed=0)
    image, audio = np.ones((2000, 3), np.float32), np.ones((2000, 2), np.float32)
    drop([image, audio])
    drop.set_absent(np.full(3, 7.0), np.full(2, 9.0))
    out_image, out_audio = (np.asarray(t) for t in drop([image, audio], training=True))
    no_image, no_audio = (out_image == 7).all(axis=1), (out_audio == 9).all(axis=1)
    assert not (no_image & no_audio).any()  # never both
    assert abs(no_image.mean() - 0.25) < 0.04 and abs(no_audio.mean() - 0.25) < 0.04
    kept = [np.asarray(t) for t in drop([image, audio], training=False)]
    assert np.array_equal(kept[0], image) and np.array_equal(kept[1], audio)
    assert ModalityDropout.from_config(drop.get_config()).rate == 0.5
    with pytest.raises(ValueError, match="rate"):
        ModalityDropout(1.0)
    with pytest.raises(ValueError, match="two tensors"):
        drop(image)


def test_logit_weights_start_as_the_average():
    a, b = np.array([[1.0, 2.0]], np.float32), np.array([[3.0, -2.0]], np.float32)
    assert np.allclose(LogitWeights()([a, b]), (a + b) / 2)


def test_late_average_is_the_softmax_of_the_mean_log_probabilities():
    image_model, audio_model = tiny_classifiers()
    head = fusion.late_fusion(image_model, audio_model, learned=False)
    model = fusion.fused_model(image_model, audio_model, head)
    rng = np.random.default_rng(0)
    x = {"image": rng.random((5, 28, 28, 1), np.float32),
         "waveform": rng.normal(size=(5, speech.LENGTH)).astype(np.float32)}
    log_p = np.log(image_model.predict(x["image"], verbose=0)) + np.log(
        audio_model.predict(x["waveform"], verbose=0))
    expected = np.exp(log_p / 2) / np.exp(log_p / 2).sum(axis=1, keepdims=True)
    assert np.allclose(model.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(fusion.HEADS))
def test_every_head_with_modality_dropout_saves_and_loads(kind, tmp_path):
    image_model, audio_model = tiny_classifiers()
    head = fusion.HEADS[kind](image_model, audio_model, modality_dropout=0.3)
    model = fusion.fused_model(image_model, audio_model, head)
    x = {"image": np.zeros((2, 28, 28, 1), np.float32),
         "waveform": np.zeros((2, speech.LENGTH), np.float32)}
    before = model.predict(x, verbose=0)
    assert before.shape == (2, 10) and np.allclose(before.sum(axis=1), 1, atol=1e-5)
    model.save(tmp_path / "fused.keras")
    after = keras.models.load_model(tmp_path / "fused.keras").predict(x, verbose=0)
    assert np.allclose(before, after, atol=1e-6)
    absent = fusion.absent_features(image_model, audio_model)
    assert np.allclose(head.get_layer("modality_dropout").absent[0], absent[0])


def test_a_head_trained_with_modality_dropout_survives_a_missing_input():
    """Both features carry the label, the image's more clearly; the image is removed at test
    time. Without modality dropout the head leans on the image and fails."""
    image_model, audio_model = tiny_classifiers()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 3000)
    f_image = np.eye(10, 8, dtype=np.float32)[labels] * 3 + rng.normal(0, .3, (3000, 8))
    f_audio = rng.normal(size=(10, 6))[labels] + rng.normal(0, .3, (3000, 6))
    absent_image, _ = fusion.absent_features(image_model, audio_model)
    results = {}
    for rate in (0.0, 0.5):
        head = fusion.early_fusion(image_model, audio_model, modality_dropout=rate)
        head.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        head.fit([f_image, f_audio], labels, epochs=15, batch_size=64, verbose=0)
        missing = np.repeat(absent_image[None], 3000, axis=0)
        results[rate] = head.evaluate([missing, f_audio], labels, verbose=0)[1]
    assert results[0.5] > 0.9 and results[0.5] > results[0.0] + 0.2, results


def test_gated_fusion_exposes_its_gate():
    image_model, audio_model = tiny_classifiers()
    head = fusion.gated_fusion(image_model, audio_model, units=4)
    gate = keras.Model(head.inputs, head.get_layer("gate").output)
    values = gate.predict([np.ones((3, 8), np.float32), np.ones((3, 6), np.float32)], verbose=0)
    assert values.shape == (3, 4) and ((values > 0) & (values < 1)).all()


# ------------------------------------------------------------------ contrastive embedding


def test_clip_loss_is_the_mean_of_row_and_column_cross_entropies():
    s = np.random.default_rng(0).normal(size=(5, 5)).astype(np.float32)

    def cross_entropy(m):
        m = m - m.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(m).sum(axis=1)) - np.diag(m))

    expected = (cross_entropy(s) + cross_entropy(s.T)) / 2
    assert np.isclose(float(fusion.clip_loss(tf.constant(s))), expected, atol=1e-5)


def test_contrastive_training_aligns_the_modalities_without_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2048)
    f_image = rng.normal(size=(10, 16))[labels] + rng.normal(0, .5, (2048, 16))
    f_audio = rng.normal(size=(10, 12))[labels] + rng.normal(0, .5, (2048, 12))
    keras.utils.set_random_seed(0)
    model = fusion.ContrastivePair(dim=8, hidden=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    data = tf.data.Dataset.from_tensor_slices((f_image.astype("float32"),
                                               f_audio.astype("float32"))).batch(128)
    history = model.fit(data, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.5
    u = np.asarray(model.embed(f_image.astype("float32"), "image"))
    v = np.asarray(model.embed(f_audio.astype("float32"), "audio"))
    assert np.allclose(np.linalg.norm(u, axis=1), 1, atol=1e-5)
    assert evaluation.recall_at_k(v, labels, u, labels, k=1) > 0.9


# ------------------------------------------------------------------ helpers and predict


def test_recall_at_k_and_the_severity_where_a_model_breaks():
    gallery = np.eye(3)
    queries = np.array([[1.0, 0, 0], [0, 0.6, 0.8], [0, 1.0, 0.1]])
    assert evaluation.recall_at_k(queries, [0, 2, 2], gallery, [0, 1, 2], k=1) == 2 / 3
    assert evaluation.recall_at_k(queries, [0, 2, 2], gallery, [0, 1, 2], k=2) == 1.0
    with pytest.raises(ValueError, match="same size"):
        evaluation.recall_at_k(queries, [0, 1, 2], np.eye(4), [0, 1, 2, 3])
    assert evaluation.severity_below([0, 0.5, 1], [0.9, 0.49, 0.1]) == 0.5
    assert evaluation.severity_below([0, 1], [0.9, 0.8]) is None


def test_train_heads_trains_every_variant_but_the_plain_average():
    image_model, audio_model = tiny_classifiers()
    rng = np.random.default_rng(1)
    labels = {part: rng.integers(0, 10, n) for part, n in (("train", 4096), ("validation", 256))}
    features = {part: [np.eye(10, 8, dtype=np.float32)[y] * 2, rng.normal(
        size=(len(y), 6)).astype(np.float32)] for part, y in labels.items()}
    before = fusion.late_fusion(image_model, audio_model, learned=False).get_weights()
    heads, seconds = training.train_heads(image_model, audio_model, features, labels,
                                          epochs=3)
    assert list(heads) == list(seconds) == list(fusion.VARIANTS)
    assert seconds["late average"] == 0 and seconds["early"] > 0
    assert all(np.array_equal(a, b) for a, b in zip(
        heads["late average"].get_weights(), before, strict=True))
    accuracy = evaluation.fusion_accuracies(heads, image_model, audio_model,
                                            features["validation"], labels["validation"])
    assert accuracy["early"] > 0.8 and accuracy["gated + MD"] > 0.8  # the image carries it


def test_noisy_copies_add_one_noisy_sense_per_copy_and_keep_the_digit(held_out):
    image_model, audio_model = tiny_classifiers()
    pairs = held_out.parts["train"].subset(range(120))
    clean = fusion.encode(image_model, audio_model, pairs)
    features = {"train": clean, "validation": [f[:5] for f in clean]}
    labels = {"train": pairs.labels, "validation": pairs.labels[:5]}
    more, more_labels = fusion.with_noisy_copies(image_model, audio_model, pairs, features,
                                                 labels, severities=(0.5, 1.0))
    assert more["validation"] is features["validation"]
    assert more_labels["validation"] is labels["validation"]
    assert [len(f) for f in more["train"]] == [240, 240] and len(more_labels["train"]) == 240
    assert np.array_equal(more["train"][0][:120], clean[0])  # the clean pairs come first
    copies = [f[120:] for f in more["train"]]

    def rows_of(a, b):  # which rows of a are rows of b
        return np.array([np.isclose(b, row, atol=1e-6).all(axis=1).any() for row in a])

    # the first half of the copies has a noisy image and its pair's clean recording, the
    # second half a clean image and a noisy recording; the digit is the pair's
    for half, noisy in ((slice(0, 60), 0), (slice(60, 120), 1)):
        assert rows_of(copies[1 - noisy][half], clean[1 - noisy]).all()
        assert rows_of(copies[noisy][half], clean[noisy]).mean() < 0.1  # (a dead ReLU or two)
    by_image = {clean[0][i].tobytes(): pairs.labels[i] for i in range(120)}
    assert all(by_image[row.tobytes()] == y for row, y in zip(
        copies[0][60:], more_labels["train"][180:], strict=True))
    again, _ = fusion.with_noisy_copies(image_model, audio_model, pairs, features, labels,
                                        severities=(0.5, 1.0))
    assert all(np.array_equal(a, b) for a, b in zip(again["train"], more["train"], strict=True))
    with pytest.raises(ValueError, match="pairs must be the training pairs"):
        fusion.with_noisy_copies(image_model, audio_model, pairs.subset(range(10)), features,
                                 labels)
    with pytest.raises(ValueError, match="severities"):
        fusion.with_noisy_copies(image_model, audio_model, pairs, features, labels,
                                 severities=())


def test_predict_a_fused_model_from_an_image_and_a_recording(tmp_path, capsys):
    import soundfile
    from PIL import Image

    from swtwo_tf import cli

    image_model, audio_model = tiny_classifiers()
    head = fusion.gated_fusion(image_model, audio_model, modality_dropout=0.3)
    fusion.fused_model(image_model, audio_model, head).save(tmp_path / "fused.keras")
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    t = np.arange(4000) / speech.SAMPLE_RATE
    soundfile.write(tmp_path / "one.wav", 0.5 * np.sin(2 * np.pi * 300 * t), speech.SAMPLE_RATE)
    files = [str(tmp_path / "one.png"), str(tmp_path / "one.wav")]
    assert cli.main(["predict", str(tmp_path / "fused.keras"), *files, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["input"] == " + ".join(files) and row["label"] in [str(d) for d in range(10)]
    assert cli.main(["predict", str(tmp_path / "fused.keras"), files[0]]) == 2
    assert "an image (PNG/JPEG) and a recording (WAV) per prediction" in capsys.readouterr().err


def test_the_chapter_figures_draw_and_refuse_bad_shapes():
    import matplotlib.pyplot as plt

    from swtwo_tf import plots

    images = np.zeros((3, 28, 28, 1), np.float32)
    fig = plots.paired_examples(images, np.zeros((3, 800), np.float32), [1, 2, 3])
    assert len(fig.axes) == 6
    fig2 = plots.corruption_curves({"image noise": {"image alone": [1, .5], "gated": [1, .9]},
                                    "image blur": {"image alone": [1, .8]}}, [0, 1])
    assert len(fig2.axes) == 2 and len(fig2.axes[0].lines) == 2
    fig3 = plots.retrieval_grid([3, 4], np.zeros((2, 5, 28, 28, 1)), [[3] * 5, [4, 1, 4, 4, 4]])
    red = [ax for ax in fig3.axes if ax.spines["left"].get_edgecolor()[0] == 1.0]
    assert len(red) == 1  # the one wrong image
    plt.close("all")
    with pytest.raises(ValueError, match="as many images"):
        plots.paired_examples(images, np.zeros((2, 800)), [1, 2, 3])
    with pytest.raises(ValueError, match="2 accuracies for 3 severities"):
        plots.corruption_curves({"p": {"m": [1, 2]}}, [0, .5, 1])
    with pytest.raises(ValueError, match=r"\(queries, k, 28, 28, 1\)"):
        plots.retrieval_grid([1], np.zeros((5, 28, 28, 1)), [[1] * 5])


def test_contrastive_pair_learns_from_raw_pairs_through_its_own_encoders():
    """From scratch: untrained encoders inside the pair model, dict batches from the pipeline."""
    rng = np.random.default_rng(0)
    digits = np.repeat(np.arange(4), 40)
    t = np.arange(speech.LENGTH) / speech.SAMPLE_RATE
    waves = np.stack([0.5 * np.sin(2 * np.pi * (300 + 200 * d) * t) for d in digits])
    rec = speech.Recordings(waves.astype(np.float32), digits, np.array(["x"] * 160),
                            np.arange(160))
    shapes = rng.random((4, 28, 28, 1)).astype(np.float32)
    images = np.clip(shapes[digits] + rng.normal(0, .1, (160, 28, 28, 1)), 0, 1)
    pairs = multimodal.Pairs(images.astype(np.float32), digits, np.arange(160),
                             np.arange(160), rec)
    keras.utils.set_random_seed(0)
    image_encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                      keras.layers.Dense(16, activation="relu")])
    audio_encoder = keras.Sequential([keras.Input((speech.LENGTH,)),
                                      keras.layers.Dense(16, activation="relu")])
    model = fusion.ContrastivePair(dim=8, hidden=16, image_encoder=image_encoder,
                                   audio_encoder=audio_encoder)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = training.fit(model, multimodal.pipeline(pairs, 32, shuffle=True), epochs=8,
                           verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    u = np.asarray(model.embed(pairs.images, "image"))
    v = np.asarray(model.embed(pairs.waves, "audio"))
    assert evaluation.recall_at_k(v, digits, u, digits) > 0.9
    trained = {id(w) for w in model.trainable_weights}  # the encoders learn with the pair
    assert {id(w) for w in image_encoder.trainable_weights + audio_encoder.trainable_weights} \
        <= trained

"""Chapter 09: attributions and their sanity checks, attacks and adversarial training,
DP-SGD's clipping, noise and budget, membership inference, template sentences."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import require_real

from swtwo_tf import config
from swtwo_tf.datasets import core, images
from swtwo_tf.models import trust as trust_models
from swtwo_tf.trust import explain, fairness, privacy, robustness


@pytest.fixture(scope="module")
def mnist():
    require_real("mnist")
    x, y = core.arrays("mnist", "train")
    x_test, y_test = core.arrays("mnist", "test")
    return (x[:6000].astype("float32") / 255, y[:6000],
            x_test[:300].astype("float32") / 255, y_test[:300])


@pytest.fixture(scope="module")
def trained(mnist):
    """A small CNN trained for two epochs on 6,000 MNIST images (about 95 % accurate)."""
    x, y, _, _ = mnist
    config.seed_everything(0)
    model = trust_models.private_cnn()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=2, verbose=0)
    return model


def test_logits_are_the_softmax_inputs(trained, mnist):
    x = mnist[2][:20]
    z = np.asarray(trust_models.logits(trained, x))
    assert np.allclose(keras.ops.softmax(z), trained(x), atol=1e-5)
    with pytest.raises(ValueError, match="Dense softmax"):
        trust_models.logits(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), x)


def test_fgsm_moves_every_pixel_by_epsilon_within_the_image_range(trained, mnist):
    x, y = mnist[2][:50], mnist[3][:50]
    adversarial = np.asarray(trust_models.fgsm(trained, x, y, 0.1))
    change = np.abs(adversarial - x)
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert change.max() <= 0.1 + 1e-6
    inside = (x >= 0.1) & (x <= 0.9)  # pixels the clip to [0, 1] cannot stop
    assert np.allclose(change[inside], 0.1, atol=1e-6)
    with pytest.raises(ValueError, match="epsilon"):
        trust_models.fgsm(trained, x, y, 2.0)


def test_attacks_lower_the_accuracy_of_a_trained_model_pgd_most(trained, mnist):
    x, y = mnist[2], mnist[3]
    fgsm = robustness.accuracy_under_attack(trained, x, y, [0.0, 0.15], attack="fgsm")
    pgd = robustness.accuracy_under_attack(trained, x, y, [0.15], steps=10)
    assert fgsm[0.0] > 0.9
    assert fgsm[0.15] < fgsm[0.0] - 0.2, fgsm
    assert pgd[0.15] <= fgsm[0.15], (pgd, fgsm)
    adversarial = np.asarray(trust_models.pgd(trained, x[:20], y[:20], 0.05, steps=5))
    assert np.abs(adversarial - x[:20]).max() <= 0.05 + 1e-6


def test_adversarial_training_trains_on_attacked_batches_and_evaluates_clean(trained, mnist):
    x, y = mnist[0][:512], mnist[1][:512]
    classifier = keras.models.clone_model(trained)
    classifier.set_weights(trained.get_weights())
    wrapped = trust_models.AdversarialTraining(classifier, 0.2)
    wrapped.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clean = wrapped.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]
    logs = wrapped.fit(x, y, batch_size=128, epochs=1, verbose=0).history
    assert logs["accuracy"][0] < clean - 0.1  # the training batches were attacked
    assert int(wrapped.step_counter.numpy()) == 4
    with pytest.raises(ValueError, match="attack"):
        trust_models.AdversarialTraining(classifier, 0.1, attack="cw")


def test_integrated_gradients_are_complete(trained, mnist):
    x = mnist[2][:8]
    classes = np.argmax(trained(x), axis=-1)
    ig = explain.integrated_gradients(trained, x, classes, steps=128, signed=True)
    z = np.asarray(trust_models.logits(trained, x))
    z0 = np.asarray(trust_models.logits(trained, np.zeros_like(x)))
    rows = np.arange(len(x))
    expected = z[rows, classes] - z0[rows, classes]
    assert np.allclose(ig.reshape(len(x), -1).sum(axis=1), expected, rtol=0.02, atol=0.05)


def test_every_method_gives_one_map_per_image_and_names_bad_input(trained, mnist):
    x = mnist[2][:4]
    for name, method in explain.METHODS.items():
        options = {"samples": 3} if name == "SmoothGrad" else {}
        maps = method(trained, x, **options)
        assert maps.shape == (4, 28, 28), name
        assert np.isfinite(maps).all() and maps.std() > 0, name
    with pytest.raises(ValueError, match="images must be"):
        explain.gradients(trained, x[0])
    with pytest.raises(ValueError, match="classes has 2 entries"):
        explain.gradients(trained, x, [1, 2])


def test_randomising_the_weights_changes_grad_cam_and_keeps_lower_layers(trained, mnist):
    x = mnist[2][:16]
    fresh = explain.randomised(trained, top=1)
    assert np.array_equal(fresh.layers[0].get_weights()[0], trained.layers[0].get_weights()[0])
    assert not np.array_equal(fresh.layers[-1].get_weights()[0],
                              trained.layers[-1].get_weights()[0])
    same = explain.rank_correlation(explain.grad_cam(trained, x), explain.grad_cam(trained, x))
    assert same == pytest.approx(1.0)
    check = explain.sanity_check(trained, x, ["Grad-CAM"])["Grad-CAM"]
    assert list(check) == [1, 2, 3, 4]
    assert check[4] < 0.5, check
    with pytest.raises(ValueError, match="no attribution method 'lime'"):
        explain.sanity_check(trained, x, ["lime"])


def test_deleting_the_most_attributed_pixels_hurts_more_than_random_ones(trained, mnist):
    x, y = mnist[2][:200], mnist[3][:200]
    maps = explain.integrated_gradients(trained, x, steps=16)
    fractions = [0.0, 0.05, 0.1]
    ranked = explain.deletion_curve(trained, x, y, maps, fractions)
    random = explain.deletion_curve(trained, x, y, maps, fractions, seed=0)
    assert ranked[0] == random[0] > 0.9
    assert ranked[2] < random[2] - 0.2, (ranked, random)


def test_dp_clipping_bounds_every_per_example_gradient(trained, mnist):
    x, y = mnist[0][:32], mnist[1][:32]
    clipped = trust_models.clipped_gradients(trained, tf.constant(x), tf.constant(y), 0.1)
    norms = np.sqrt(sum(np.square(np.asarray(g)).reshape(32, -1).sum(axis=1) for g in clipped))
    assert norms.max() <= 0.1 + 1e-5
    # unclipped (a huge bound), each example's gradient is the one GradientTape gives alone
    free = trust_models.clipped_gradients(trained, tf.constant(x), tf.constant(y), 1e9)
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(
            y[3:4], trust_models.logits(trained, x[3:4], training=True), from_logits=True)
    alone = tape.gradient(loss, trained.trainable_variables)
    for g, a in zip(free, alone, strict=True):
        assert np.allclose(np.asarray(g)[3], a, atol=1e-5)


def test_dp_sgd_step_is_clipped_sum_plus_noise_over_the_expected_batch(mnist):
    x, y = tf.constant(mnist[0][:16]), tf.constant(mnist[1][:16])
    model = trust_models.PrivateTraining(trust_models.private_cnn(), l2_clip=0.5,
                                         noise_multiplier=0.0, expected_batch=20.0)
    clipped = trust_models.clipped_gradients(model.classifier, x, y, 0.5)
    for g, c in zip(model.noisy_gradient(x, y), clipped, strict=True):
        assert np.allclose(g, np.asarray(c).sum(axis=0) / 20.0, atol=1e-6)
    noisy = trust_models.PrivateTraining(model.classifier, l2_clip=0.5, noise_multiplier=2.0,
                                         expected_batch=20.0)
    empty = noisy.noisy_gradient(x[:0], y[:0])  # an empty Poisson batch: noise alone
    spread = np.concatenate([np.asarray(g).ravel() for g in empty]).std()
    assert spread == pytest.approx(2.0 * 0.5 / 20.0, rel=0.05)
    with pytest.raises(ValueError, match="l2_clip"):
        trust_models.PrivateTraining(model.classifier, l2_clip=0, noise_multiplier=1,
                                     expected_batch=1)


def test_poisson_batches_vary_in_size_around_the_rate_and_repeat_under_a_seed(mnist):
    x, y = (mnist[0] * 255).astype("uint8"), mnist[1]
    ds = images.poisson_batches(x, y, sample_rate=0.01, steps=200, seed=3)
    sizes = [int(b[1].shape[0]) for b in ds]
    assert len(sizes) == 200 and len(set(sizes)) > 10
    assert np.mean(sizes) == pytest.approx(60, rel=0.05)
    first = next(iter(images.poisson_batches(x, y, sample_rate=0.01, steps=2, seed=3)))
    again = next(iter(images.poisson_batches(x, y, sample_rate=0.01, steps=2, seed=3)))
    assert np.array_equal(first[1], again[1])
    batch = next(iter(ds))
    assert batch[0].dtype == tf.float32 and float(tf.reduce_max(batch[0])) <= 1.0
    with pytest.raises(ValueError, match="sample_rate"):
        images.poisson_batches(x, y, sample_rate=0, steps=2)


def test_epsilon_falls_with_noise_and_grows_with_steps():
    eps = [privacy.epsilon(s, 0.01, 1000) for s in (0.8, 1.1, 2.0)]
    assert eps[0] > eps[1] > eps[2] > 0
    assert privacy.epsilon(1.1, 0.01, 4000) > eps[1]
    # Abadi et al. (2016): q = 0.01, sigma = 4, 10,000 steps is epsilon 1.26 by their moments
    # accountant at delta 1e-5; the Renyi accountant is as tight or tighter, not far below
    assert 0.9 < privacy.epsilon(4.0, 0.01, 10_000) <= 1.26
    with pytest.raises(ValueError, match="noise_multiplier"):
        privacy.epsilon(0.0, 0.01, 10)


def test_membership_inference_finds_a_memorised_training_set(mnist):
    x, y, x_test, y_test = mnist
    config.seed_everything(0)
    overfit = trust_models.private_cnn()
    overfit.compile(optimizer=keras.optimizers.Adam(3e-3),
                    loss="sparse_categorical_crossentropy")
    overfit.fit(x[:200], y[:200], batch_size=50, epochs=60, verbose=0)
    auc = privacy.membership_auc(overfit, (x[:200], y[:200]), (x_test[:200], y_test[:200]))
    assert auc > 0.65
    same = privacy.membership_auc(overfit, (x_test[:100], y_test[:100]),
                                  (x_test[100:200], y_test[100:200]))
    assert abs(same - 0.5) < 0.15  # two halves of the unseen set: nothing to tell apart


def test_templates_fill_every_word_and_measure_the_spread():
    sentences = fairness.filled()
    assert len(sentences) == sum(len(g) for g in fairness.GROUPS.values())
    assert all(len(s) == len(fairness.TEMPLATES) for s in sentences.values())
    assert sentences["a man"][0].startswith("A man ")
    fair = fairness.template_scores(lambda s: np.full(len(s), 0.5))
    assert fair["spread"] == 0
    biased = fairness.template_scores(lambda s: [0.9 if "Greg" in t else 0.5 for t in s])
    assert biased["spread"] == pytest.approx(0.4)
    assert fairness.gap({"a": 0.9, "b": 0.7})["gap"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="one probability per sentence"):
        fairness.template_scores(lambda s: np.full((len(s), 2), 0.5))
    with pytest.raises(ValueError, match="slot"):
        fairness.filled(["no slot here"])


@pytest.fixture(scope="module")
def tones():
    """Two classes of quarter-second tones (300 Hz and 1,200 Hz, random phase and level) and
    a log-mel classifier trained on them: a speech model in miniature."""
    from swtwo_tf.layers import audio

    rng = np.random.default_rng(0)
    t = np.arange(2000) / 8000
    labels = rng.integers(0, 2, 400)
    waves = (rng.uniform(0.1, 0.4, (400, 1)) * np.sin(
        2 * np.pi * np.where(labels, 1200, 300)[:, None] * t + rng.uniform(0, 6.3, (400, 1))))
    config.seed_everything(0)
    model = keras.Sequential([keras.Input((2000,)), audio.LogMelSpectrogram(name="log_mel"),
                              keras.layers.Reshape((-1, 40, 1), name="mel_image"),
                              keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(waves[:300].astype("float32"), labels[:300], epochs=15, batch_size=32, verbose=0)
    return model, waves[300:].astype("float32"), labels[300:]


def test_split_at_cuts_a_speech_model_into_features_and_a_head(tones):
    model, waves, _ = tones
    features, head = explain.split_at(model, "mel_image")
    mel = np.asarray(features(waves[:8]))
    assert mel.shape == (8, 22, 40, 1)
    assert np.allclose(head(mel), model(waves[:8]), atol=1e-5)
    maps = explain.grad_cam(head, mel)  # a head is a classifier of spectrogram images
    assert maps.shape == (8, 22, 40)
    with pytest.raises(ValueError, match="no layer 'mel'"):
        explain.split_at(model, "mel")


def test_noise_reaches_its_snr_and_hurts_a_speech_model(tones):
    from swtwo_tf.datasets import speech

    model, waves, labels = tones
    noisy = speech.with_noise(waves, 5.0, seed=3)
    assert np.allclose(speech.snr_db(waves, noisy), 5.0, atol=1e-3)
    assert np.array_equal(noisy, speech.with_noise(waves, 5.0, seed=3))
    with pytest.raises(ValueError, match="waves must have shape"):
        speech.with_noise(waves[0], 5.0)
    padded = np.pad(waves[:4], ((0, 0), (300, 500)))  # digital silence around each tone
    tight = speech.with_noise(padded, 10.0, seed=1, padding=False)
    assert np.all(tight[:, :300] == 0) and np.all(tight[:, -500:] == 0)
    assert np.allclose(speech.snr_db(padded, tight), 10.0, atol=1e-3)
    assert np.all(speech.with_noise(padded, 10.0, seed=1)[:, :300] != 0)
    curve = robustness.accuracy_under_noise(model, waves, labels, [None, 20, -20])
    clean = np.mean(np.argmax(model(waves), axis=-1) == labels)
    assert curve[None] == clean >= 0.95
    assert curve[-20] < clean - 0.2, curve


def test_a_waveform_attack_stays_in_range_and_fools_the_model(tones):
    model, waves, labels = tones
    attacked = np.asarray(trust_models.pgd(model, waves, labels, 0.02, steps=10,
                                           bounds=trust_models.SAMPLES))
    assert attacked.min() >= -1 and attacked.max() <= 1
    assert np.abs(attacked - waves).max() <= 0.02 + 1e-6
    curve = robustness.accuracy_under_attack(model, waves, labels, [0.0, 0.02], steps=10,
                                             bounds=trust_models.SAMPLES)
    assert curve[0.02] < curve[0.0] - 0.3, curve
    with pytest.raises(ValueError, match="outside bounds"):
        robustness.accuracy_under_attack(model, waves, labels, [0.1])  # pixels: [0, 1]


def _bag_of_words(texts):
    """A transparent sentiment model: "good" and "great" push to positive, "bad" to negative."""
    weight = {"good": 1.0, "great": 2.0, "bad": -1.5}
    z = np.array([sum(weight.get(explain.word_key(w), 0.0) for w in t.split()) for t in texts])
    p = 1 / (1 + np.exp(-z))
    return np.stack([1 - p, p], axis=1)


def test_word_importance_is_the_drop_when_a_word_is_left_out():
    tokens, scores = explain.word_importance(_bag_of_words, "A good film, good and great.", 1)
    assert tokens == ["A", "good", "film,", "good", "and", "great."]
    p = _bag_of_words(["A good film, good and great.", "A film, and great.",
                       "A good film, good and"])[:, 1]
    assert np.isclose(scores[1], p[0] - p[1]) and scores[1] == scores[3]
    assert np.isclose(scores[5], p[0] - p[2]) and scores[0] == 0.0
    tokens, scores = explain.word_importance(_bag_of_words, "A good film.<br /><br />So good")
    assert tokens == ["A", "good", "film.", "So", "good"]  # IMDB's line breaks are spaces
    assert scores[1] == scores[4] > 0
    with pytest.raises(ValueError, match="no words"):
        explain.word_importance(_bag_of_words, " ... ")
    with pytest.raises(ValueError, match="label 2 is not a class"):
        explain.word_importance(_bag_of_words, "good", 2)
    with pytest.raises(ValueError, match="predict must return"):
        explain.word_importance(lambda texts: np.zeros(len(texts)), "a text")


def test_typos_and_swaps_change_words_deterministically():
    texts = ["the quick brown fox jumps over a lazy dog", "great fun"]
    assert robustness.typos(texts, 0.0) == texts
    changed = robustness.typos(texts, 1.0, seed=1)
    assert changed == robustness.typos(texts, 1.0, seed=1)
    for before, after in zip(texts, changed, strict=True):
        pairs = list(zip(before.split(), after.split(), strict=True))
        assert all((a != b) == (len(b) >= 2) for b, a in pairs), pairs  # "a" has no typo
    swapped = robustness.swap_words(texts, 0.5, seed=0)
    assert [sorted(t.split()) for t in swapped] == [sorted(t.split()) for t in texts]
    assert swapped != texts and robustness.swap_words(texts, 0.0) == texts
    with pytest.raises(ValueError, match="rate"):
        robustness.typos(texts, 1.5)


def test_typo_attack_misspells_the_words_that_matter():
    texts = ["a good film with a great cast", "a bad film, bad acting", "good great good"]
    labels = [1, 0, 1]
    curve = robustness.typo_attack(_bag_of_words, texts, labels, (1, 2))
    assert curve[0] == 1.0
    assert curve[2] < curve[0], curve  # with "great" and "good" misspelt, no positive word left


def test_the_chapter_figures_draw_spectrogram_maps_and_coloured_words():
    import matplotlib.pyplot as plt

    from swtwo_tf import plots

    mel = np.random.default_rng(0).normal(size=(3, 97, 40, 1))
    fig = plots.attribution_maps(mel, {"Grad-CAM": np.ones((3, 97, 40))}, spectrogram=True)
    assert len(fig.axes) == 6
    assert fig.axes[0].images[0].get_array().shape == (40, 97)  # time to the right
    tokens = "a good film , not a bad one".split()
    fig2 = plots.word_attributions({"review": (tokens, np.linspace(-1, 1, len(tokens)))},
                                   line=12)
    texts = fig2.axes[0].texts
    assert [t.get_text() for t in texts] == tokens
    assert len({round(t.get_position()[1]) for t in texts}) == 3  # wrapped at 12 characters
    plt.close("all")
    with pytest.raises(ValueError, match="8 tokens but 2 scores"):
        plots.word_attributions({"review": (tokens, [0.1, 0.2])})


def test_share_on_recording_counts_the_frames_that_overlap_the_word():
    waves = np.zeros((2, 1000), np.float32)
    waves[:, 100:500] = 0.5  # each recording: samples 100-499, the rest padding
    maps = np.ones((2, 10, 4))  # frames start every 100 samples, 150 long
    share, frames = explain.share_on_recording(maps, waves, frame_step=100, frame_length=150)
    assert frames == 0.5 and share == 0.5  # frames 0-4 overlap samples 100-499
    maps[:, 5:] = 0  # all mass on the word
    assert explain.share_on_recording(maps, waves, 100, 150)[0] == 1.0
    with pytest.raises(ValueError, match="same n"):
        explain.share_on_recording(maps[:1], waves, 100, 150)

"""Every custom Keras layer of the kit (``swtwo_tf.layers``): configs that rebuild the layer,
output shapes Keras can know before a call, and constructor arguments that are checked."""

from __future__ import annotations

import inspect
import re

import keras
import numpy as np
import pytest

from swtwo_tf.features import text as text_features
from swtwo_tf.layers import audio, images, text

RNG = np.random.default_rng(0)


def _waves(samples=8_000, batch=2):
    """Noise bursts inside exact-zero padding, as the recordings are."""
    waves = np.zeros((batch, samples), np.float32)
    waves[:, samples // 10:samples // 2] = RNG.standard_normal(
        (batch, samples // 2 - samples // 10)) * 0.2
    return waves


def _floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


#: layer class -> (constructor arguments, none left at its default; call inputs; call options)
CASES = {
    audio.LogMelSpectrogram: (
        {"sample_rate": 16_000, "frame_length": 400, "frame_step": 160, "num_mel_bins": 32,
         "fmin": 50.0, "fmax": 7_000.0, "floor": 1e-5, "spectrum": "matrix"},
        (_waves(16_000),), {}),
    audio.MFCC: ({"num_coefficients": 20}, (_floats(2, 50, 32),), {}),
    audio.UtteranceNormalization: (
        {"frame_length": 200, "frame_step": 100}, (_floats(2, 79, 8), _waves()), {}),
    audio.AddNoise: ({"min_snr_db": 5.0, "max_snr_db": 15.0, "seed": 3}, (_waves(),), {}),
    audio.TimeShift: ({"max_shift": 100, "seed": 3}, (_waves(),), {}),
    audio.SpeedPerturb: ({"min_rate": 0.8, "max_rate": 1.25, "seed": 3}, (_waves(),), {}),
    audio.SpecAugment: ({"time_masks": 3, "time_width": 4, "freq_masks": 1, "freq_width": 2,
                         "seed": 3}, (_floats(2, 97, 40),), {}),
    text.NaiveBayesLogits: ({"vocabulary_size": 6, "prior": 0.7, "scale": 0.3},
                            ((RNG.random((3, 6)) < 0.5).astype(np.float32),), {}),
    text.MaskedGlobalMaxPooling1D: ({}, (_floats(2, 5, 3),),
                                    {"mask": np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], bool)}),
    text.TokenAndPositionEmbedding: ({"max_tokens": 30, "sequence_length": 10, "dim": 6},
                                     (RNG.integers(0, 30, (2, 7)).astype(np.int32),), {}),
    text.TransformerBlock: (
        {"dim": 8, "heads": 4, "feed_forward": 12, "dropout": 0.2},
        (_floats(2, 5, 8), np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)), {}),
    images.RandomAffine: ({"rotation": 0.05, "zoom": 0.2, "shift": 0.1,
                           "interpolation": "nearest", "seed": 3},
                          (RNG.random((3, 12, 10, 2)).astype(np.float32),), {}),
}
AUGMENTATION = [audio.AddNoise, audio.TimeShift, audio.SpeedPerturb, audio.SpecAugment,
                images.RandomAffine]
all_layers = pytest.mark.parametrize("cls", list(CASES), ids=lambda cls: cls.__name__)


def _make(cls):
    arguments, inputs, options = CASES[cls]
    return cls(**arguments), inputs, options


def _randomise(layer):
    """Random weights, so that outputs depend on every weight (zeros would hide a lost one)."""
    layer.set_weights([RNG.standard_normal(w.shape).astype(w.dtype) * 0.5
                       for w in layer.get_weights()])


@all_layers
def test_the_cases_set_every_constructor_argument_and_get_config_keeps_them(cls):
    arguments = CASES[cls][0]
    parameters = inspect.signature(cls.__init__).parameters
    names = {n for n, p in parameters.items() if n != "self" and p.kind != p.VAR_KEYWORD}
    assert set(arguments) == names
    for name, value in arguments.items():
        assert value != parameters[name].default, f"{cls.__name__} case leaves {name} default"
    config = cls(**arguments).get_config()
    assert {name: config[name] for name in arguments} == arguments


@all_layers
def test_from_config_rebuilds_an_equal_layer_with_equal_outputs(cls):
    layer, inputs, options = _make(cls)
    layer(*inputs, **options)  # builds the weights
    _randomise(layer)
    expected = np.asarray(layer(*inputs, **options))
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone(*inputs, **options)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(*inputs, **options)), expected, atol=1e-6)


@pytest.mark.parametrize("cls", AUGMENTATION, ids=lambda cls: cls.__name__)
def test_augmentation_from_config_with_its_seed_augments_the_same_way(cls):
    layer, (x,), _ = _make(cls)
    clone = cls.from_config(layer.get_config())
    np.testing.assert_array_equal(layer(x), x)  # inference: unchanged
    augmented = np.asarray(layer(x, training=True))
    assert not np.allclose(augmented, x)
    np.testing.assert_allclose(np.asarray(clone(x, training=True)), augmented, atol=1e-6)


@all_layers
def test_compute_output_shape_is_the_shape_of_the_output(cls):
    layer, inputs, options = _make(cls)
    real = tuple(layer(*inputs, **options).shape)
    assert tuple(layer.compute_output_shape(*[x.shape for x in inputs])) == real
    symbolic = [keras.Input(x.shape[1:], dtype=str(x.dtype)) for x in inputs]
    options = {k: keras.Input(v.shape[1:], dtype=str(v.dtype)) for k, v in options.items()}
    assert tuple(_make(cls)[0](*symbolic, **options).shape) == (None, *real[1:])


INVALID = [
    (audio.LogMelSpectrogram, {"sample_rate": 0}, "sample_rate"),
    (audio.LogMelSpectrogram, {"sample_rate": "8k"}, "sample_rate"),
    (audio.LogMelSpectrogram, {"frame_length": 0}, "frame_length"),
    (audio.LogMelSpectrogram, {"frame_length": 25.5}, "frame_length"),
    (audio.LogMelSpectrogram, {"frame_step": -80}, "frame_step"),
    (audio.LogMelSpectrogram, {"num_mel_bins": 0}, "num_mel_bins"),
    (audio.LogMelSpectrogram, {"fmin": -1.0}, "fmin"),
    (audio.LogMelSpectrogram, {"fmax": 5_000.0}, "fmax"),  # above sample_rate / 2
    (audio.LogMelSpectrogram, {"fmin": 3_000.0, "fmax": 2_000.0}, "fmin"),
    (audio.LogMelSpectrogram, {"floor": 0.0}, "floor"),
    (audio.LogMelSpectrogram, {"spectrum": "wavelet"}, "spectrum"),
    (audio.MFCC, {"num_coefficients": 0}, "num_coefficients"),
    (audio.UtteranceNormalization, {"frame_length": 0}, "frame_length"),
    (audio.UtteranceNormalization, {"frame_step": 1.5}, "frame_step"),
    (audio.AddNoise, {"min_snr_db": 30.0, "max_snr_db": 10.0}, "min_snr_db"),
    (audio.AddNoise, {"max_snr_db": None}, "max_snr_db"),
    (audio.AddNoise, {"seed": "seven"}, "seed"),
    (audio.TimeShift, {"max_shift": -1}, "max_shift"),
    (audio.TimeShift, {"max_shift": 0.5}, "max_shift"),
    (audio.TimeShift, {"seed": 1.5}, "seed"),
    (audio.SpeedPerturb, {"min_rate": 0.0}, "min_rate"),
    (audio.SpeedPerturb, {"min_rate": 1.2, "max_rate": 1.0}, "min_rate"),
    (audio.SpecAugment, {"time_masks": -1}, "time_masks"),
    (audio.SpecAugment, {"time_width": 2.5}, "time_width"),
    (audio.SpecAugment, {"freq_masks": True}, "freq_masks"),
    (audio.SpecAugment, {"freq_width": -5}, "freq_width"),
    (text.NaiveBayesLogits, {"vocabulary_size": 0}, "vocabulary_size"),
    (text.NaiveBayesLogits, {"vocabulary_size": 5, "prior": -0.1}, "prior"),
    (text.NaiveBayesLogits, {"vocabulary_size": 5, "scale": 0}, "scale"),
    (text.TokenAndPositionEmbedding, {"max_tokens": 0, "sequence_length": 8, "dim": 4},
     "max_tokens"),
    (text.TokenAndPositionEmbedding, {"max_tokens": 9, "sequence_length": -8, "dim": 4},
     "sequence_length"),
    (text.TokenAndPositionEmbedding, {"max_tokens": 9, "sequence_length": 8, "dim": 0}, "dim"),
    (text.TransformerBlock, {"dim": 0, "heads": 1, "feed_forward": 8}, "dim"),
    (text.TransformerBlock, {"dim": 8, "heads": 0, "feed_forward": 8}, "heads"),
    (text.TransformerBlock, {"dim": 10, "heads": 4, "feed_forward": 8}, "multiple of heads"),
    (text.TransformerBlock, {"dim": 8, "heads": 2, "feed_forward": 0}, "feed_forward"),
    (text.TransformerBlock, {"dim": 8, "heads": 2, "feed_forward": 8, "dropout": 1.0},
     "dropout"),
    (text.TransformerBlock, {"dim": 8, "heads": 2, "feed_forward": 8, "dropout": -0.1},
     "dropout"),
    (images.RandomAffine, {"rotation": 0.6}, "rotation"),
    (images.RandomAffine, {"rotation": -0.1}, "rotation"),
    (images.RandomAffine, {"zoom": 1.0}, "zoom"),
    (images.RandomAffine, {"shift": "a little"}, "shift"),
    (images.RandomAffine, {"interpolation": "cubic"}, "interpolation"),
    (images.RandomAffine, {"seed": 1.5}, "seed"),
]


@pytest.mark.parametrize("cls, arguments, named", INVALID,
                         ids=[f"{c.__name__}-{'-'.join(a)}" for c, a, _ in INVALID])
def test_an_invalid_argument_is_refused_by_name(cls, arguments, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        cls(**arguments)


def test_mfcc_refuses_more_coefficients_than_mel_bands():
    with pytest.raises(ValueError, match="num_coefficients must be at most the 40 mel bands"):
        audio.MFCC(41)(np.zeros((1, 97, 40), np.float32))
    with pytest.raises(ValueError, match="number of mel bands"):
        audio.MFCC(13)(keras.Input((97, None)))


@all_layers
def test_every_layer_is_registered_under_its_class_name(cls):
    name = f"swtwo>{cls.__name__}"
    assert keras.saving.get_registered_name(cls) == name
    assert keras.saving.get_registered_object(name) is cls


def test_the_text_standardisation_keeps_its_registered_name():
    """Saved text models name their standardisation ``swtwo>standardize``."""
    assert keras.saving.get_registered_object("swtwo>standardize") is text_features.standardize


def test_a_log_mel_config_without_spectrum_computes_the_fft():
    """Configs saved before ``spectrum`` was an argument load as the FFT they used."""
    config = audio.LogMelSpectrogram().get_config()
    del config["spectrum"]
    assert audio.LogMelSpectrogram.from_config(config).spectrum == "fft"


# FusedBatchNormalization: Keras's batch norm on TensorFlow's fused kernel. It must be the
# same layer to the learner (formula, weights, moving statistics), only faster.

def _norm_pair(**options):
    from swtwo_tf.layers.normalization import FusedBatchNormalization

    fused = FusedBatchNormalization(momentum=0.9, **options)
    plain = keras.layers.BatchNormalization(momentum=0.9, **options)
    x = (RNG.standard_normal((16, 6, 6, 5)) * 3 + 2).astype(np.float32)
    for layer in (fused, plain):
        layer.build(x.shape)
    _randomise(plain)
    plain.moving_variance.assign(np.abs(plain.moving_variance.numpy()) + 0.5)
    fused.set_weights(plain.get_weights())
    return fused, plain, x


def test_fused_batch_norm_trains_as_keras_batch_norm():
    import tensorflow as tf

    fused, plain, x = _norm_pair()
    x = tf.constant(x)
    outputs, grads = [], []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.sin(y) * y)  # any loss whose gradient varies
        outputs.append(y.numpy())
        grads.append([g.numpy() for g in tape.gradient(loss, [x, layer.gamma, layer.beta])])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)
    for got, want in zip(*grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    for got, want in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # moving statistics too
    # and the batch was normalised: each channel's mean is beta
    np.testing.assert_allclose(outputs[0].mean(axis=(0, 1, 2)), fused.beta.numpy(), atol=1e-4)
    # by the one fused kernel, in training and in inference
    for training in (True, False):
        graph = tf.function(lambda t, training=training: fused(t, training=training))
        ops = {op.type for op in graph.get_concrete_function(x).graph.get_operations()}
        assert "FusedBatchNormV3" in ops and "Rsqrt" not in ops, sorted(ops)


def test_fused_batch_norm_infers_with_the_moving_statistics_as_keras_does():
    fused, plain, x = _norm_pair()
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False),
                               rtol=1e-5, atol=1e-5)
    fused.trainable = plain.trainable = False  # a frozen layer infers, even in training
    before = fused.get_weights()
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True),
                               rtol=1e-5, atol=1e-5)
    for got, want in zip(fused.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_fused_batch_norm_leaves_other_inputs_to_keras():
    """A dense layer's 2-D output and a masked sequence take the parent's code, unchanged."""
    from swtwo_tf.layers.normalization import FusedBatchNormalization

    for shape, mask in (((8, 5), None), ((2, 4, 5), np.array([[1, 1, 0, 0], [1] * 4], bool))):
        x = _floats(*shape)
        fused, plain = FusedBatchNormalization(), keras.layers.BatchNormalization()
        np.testing.assert_array_equal(fused(x, training=True, mask=mask),
                                      plain(x, training=True, mask=mask))


def test_a_model_with_fused_batch_norm_saves_and_loads(tmp_path):
    from swtwo_tf.layers.normalization import FusedBatchNormalization

    assert keras.saving.get_registered_name(FusedBatchNormalization) == (
        "swtwo>FusedBatchNormalization")
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3),
                              FusedBatchNormalization(momentum=0.8, epsilon=1e-2)])
    x = _floats(4, 6, 6, 2)
    model(x, training=True)  # moves the statistics off their start
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[-1]) is FusedBatchNormalization
    assert loaded.layers[-1].momentum == 0.8
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)


def test_the_image_cnns_normalise_their_convolutions_with_the_fused_layer():
    from swtwo_tf.layers.normalization import FusedBatchNormalization
    from swtwo_tf.models import modern, vision

    for model in (vision.convnet(), modern.resnet(), modern.separable_net()):
        norms = [layer for layer in model.layers
                 if isinstance(layer, keras.layers.BatchNormalization)]
        on_maps = [layer for layer in norms if len(layer.input.shape) == 4]
        assert on_maps and all(type(layer) is FusedBatchNormalization for layer in on_maps)


# RandomAffine: one resampling for the rotation, zoom and shift of the digit augmentation. Its
# matrix must be the formula q = s R(theta) (p - c) + c - t, checked on maps with exact answers.

def _affine(image, angle=0.0, scale=1.0, shift_x=0.0, shift_y=0.0):
    height, width = image.shape[:2]
    transform = images.RandomAffine.matrix(
        *(np.array([v], np.float32) for v in (angle, scale, shift_x, shift_y)), height, width)
    return np.asarray(keras.ops.image.affine_transform(
        image[None], transform, interpolation="bilinear", fill_mode="constant"))[0]


def test_the_matrix_is_the_composed_formula_on_a_non_square_image():
    """Rotation, zoom and shift together, each image its own: q = s R(theta) (p - c) + c - t."""
    height, width, n = 9, 14, 5
    angle, scale = RNG.uniform(-0.7, 0.7, n), RNG.uniform(0.8, 1.3, n)
    shift = RNG.uniform(-3, 3, (n, 2))
    m = np.asarray(images.RandomAffine.matrix(
        *(v.astype(np.float32) for v in (angle, scale, shift[:, 0], shift[:, 1])), height, width))
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    points = RNG.uniform(0, 14, (7, 2))  # (x, y): column, row
    for k in range(n):
        rotation = np.array([[np.cos(angle[k]), -np.sin(angle[k])],
                             [np.sin(angle[k]), np.cos(angle[k])]])
        want = scale[k] * (points - centre) @ rotation.T + centre - shift[k]
        got = points @ np.array([m[k, [0, 1]], m[k, [3, 4]]]).T + m[k, [2, 5]]
        np.testing.assert_allclose(got, want, atol=1e-4)
        np.testing.assert_array_equal(m[k, 6:], 0)


def test_a_quarter_turn_is_numpys_rot90():
    square = RNG.random((7, 7, 1)).astype(np.float32)
    np.testing.assert_allclose(_affine(square, angle=np.pi / 2), np.rot90(square), atol=1e-5)


def test_a_whole_pixel_shift_moves_the_pixels_and_fills_zeros():
    image = RNG.random((6, 8, 1)).astype(np.float32) + 1
    moved = _affine(image, shift_x=2, shift_y=1)  # 2 columns right, 1 row down
    np.testing.assert_allclose(moved[1:, 2:], image[:-1, :-2], atol=1e-6)
    assert not moved[0].any() and not moved[:, :2].any()


def test_a_zoom_keeps_the_centre_and_shrinks_the_content():
    image = np.zeros((9, 9, 1), np.float32)
    image[2:7, 2:7] = 1  # a 5x5 square about the centre
    smaller = _affine(image, scale=2.0)  # each output pixel reads twice as far out
    assert smaller[4, 4, 0] == 1 and smaller[3:6, 3:6].sum() == 9 and smaller.sum() < 12


def test_random_affine_draws_one_transform_per_image_within_its_ranges():
    digit = np.zeros((1, 28, 28, 1), np.float32)
    digit[0, 8:20, 12:16] = 1  # a thick vertical bar
    batch = np.repeat(digit, 64, axis=0)
    layer = images.RandomAffine(rotation=0.03, zoom=0.1, shift=0.1, seed=0)
    out = np.asarray(layer(batch, training=True))
    assert len({o.tobytes() for o in out}) == 64  # every image its own draw
    ink = out.sum(axis=(1, 2, 3)) / digit.sum()  # area scales by 1/s^2, s in [0.9, 1.1]
    assert ink.min() > 1 / 1.1**2 - 0.05 and ink.max() < 1 / 0.9**2 + 0.05
    rows, cols = np.indices((28, 28))
    centre_x = (out[..., 0] * cols).sum(axis=(1, 2)) / out.sum(axis=(1, 2, 3))
    assert np.abs(centre_x - 13.5).max() <= 0.1 * 28 + 1  # shifts up to 10 % of the width
    assert centre_x.std() > 0.5


def test_random_affine_refuses_what_is_not_a_batch_of_images():
    with pytest.raises(ValueError, match=r"batch of images \(n, height, width, channels\)"):
        images.RandomAffine(zoom=0.1)(_floats(2, 28, 28), training=True)
    with pytest.raises(ValueError, match="known height and width"):
        images.RandomAffine(zoom=0.1)(keras.Input((None, None, 1)))


def test_the_digit_augmentation_resamples_once():
    import tensorflow as tf

    from swtwo_tf.models import vision

    augment = vision.augmentation("digits")
    graph = tf.function(lambda x: augment(x, training=True)).get_concrete_function(
        tf.TensorSpec((4, 28, 28, 1), tf.float32)).graph
    kinds = [op.type for op in graph.get_operations()]
    assert kinds.count("ImageProjectiveTransformV3") == 1, kinds

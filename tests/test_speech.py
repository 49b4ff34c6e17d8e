"""Spoken-digit loaders and splits, your own WAV files, audio feature layers, speech models."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from swtwo_tf import config, datasets, training
from swtwo_tf.datasets import speech
from swtwo_tf.features import audio
from swtwo_tf.models import speech as speech_models

RATE = speech.SAMPLE_RATE


@pytest.fixture(scope="module")
def rec():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SampleDataWarning)
        return speech.recordings()


def _tone(freq, seconds=1.0, rate=RATE, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ------------------------------------------------------------------ data and splits
def test_recordings_are_scaled_fixed_length_and_labelled(rec):
    assert rec.waves.shape == (len(rec.labels), speech.LENGTH) and rec.waves.dtype == np.float32
    assert np.abs(rec.waves).max() <= 1.0 and np.abs(rec.waves).max() > 0.1
    assert set(rec.labels) == set(range(10))
    if rec.source == "tfds":
        assert len(rec.labels) == 2500 and len(set(rec.speakers)) == 5


def test_documented_split_is_disjoint_complete_and_fsdd_s(rec):
    train, test = speech.split_indices(rec, "documented")
    assert not set(train) & set(test) and len(train) + len(test) == len(rec.labels)
    assert (rec.indices[test] < 5).all() and (rec.indices[train] >= 5).all()
    if rec.source == "tfds":
        assert len(test) == 250  # 5 takes x 10 digits x 5 speakers


def test_speaker_split_really_holds_the_speaker_out(rec):
    for speaker in sorted(set(rec.speakers)):
        train, test = speech.split_indices(rec, f"speaker:{speaker}")
        assert set(rec.speakers[test]) == {speaker}
        assert speaker not in set(rec.speakers[train])
        assert len(train) + len(test) == len(rec.labels)
    with pytest.raises(ValueError, match="no speaker 'zed'"):
        speech.split_indices(rec, "speaker:zed")
    with pytest.raises(ValueError, match="split must be 'documented' or 'speaker:<name>'"):
        speech.split_indices(rec, "random")


def test_pipelines_and_a_validation_set_outside_the_test_set(rec):
    speaker = sorted(set(rec.speakers))[0]
    data = speech.speech_datasets(f"speaker:{speaker}", batch_size=16, rec=rec)
    waves, labels = next(iter(data.train))
    assert waves.shape == (16, speech.LENGTH) and labels.dtype == tf.int64
    assert set(data.test_speakers) == {speaker}
    assert sum(data.sizes.values()) == len(rec.labels)
    test_waves = {bytes(w) for batch, _ in data.test for w in batch.numpy()}
    assert not test_waves & {bytes(w) for batch, _ in data.validation for w in batch.numpy()}


# ------------------------------------------------------------------ your own files
def test_load_wav_makes_mono_8khz_and_trims_silence(tmp_path):
    voice = _tone(440, 0.5, 44_100)
    silence = np.zeros(22_050, np.float32)
    stereo = np.stack([np.concatenate([silence, voice, silence])] * 2, axis=1)
    path = tmp_path / "stereo_44k.wav"
    soundfile.write(path, stereo, 44_100)
    wave = speech.load_wav(path)
    assert wave.ndim == 1 and wave.dtype == np.float32
    assert abs(len(wave) - 0.5 * RATE) < 0.05 * RATE  # the silence is gone, the tone stays


@pytest.mark.parametrize("content, match", [
    (b"this is not audio", "cannot be read as audio"),
    (None, "no such file"),
])
def test_bad_wav_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "clip.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(speech.AudioFileError, match=f"clip.wav: {match}"):
        speech.load_wav(path)


def test_empty_silent_and_too_long_recordings(tmp_path):
    cases = {"empty.wav": np.zeros(0, np.float32), "silent.wav": np.zeros(RATE, np.float32),
             "long.wav": _tone(300, 12.0)}
    for name, wave in cases.items():
        soundfile.write(tmp_path / name, wave, RATE)
    with pytest.raises(speech.AudioFileError, match="empty.wav: the recording is empty"):
        speech.load_wav(tmp_path / "empty.wav")
    with pytest.raises(speech.AudioFileError, match="silent.wav: the recording is silent"):
        speech.load_wav(tmp_path / "silent.wav")
    with pytest.raises(speech.AudioFileError, match=r"long.wav: 12.0 s long; at most 10 s"):
        speech.load_wav(tmp_path / "long.wav")


def test_wav_folders_in_both_layouts(tmp_path):
    (tmp_path / "by_digit" / "3").mkdir(parents=True)
    soundfile.write(tmp_path / "by_digit" / "3" / "take.wav", _tone(500, 0.4), RATE)
    (tmp_path / "fsdd").mkdir()
    soundfile.write(tmp_path / "fsdd" / "7_ana_2.wav", _tone(600, 0.4, 16_000), 16_000)
    by_digit = speech.load_wav_folder(tmp_path / "by_digit")
    fsdd = speech.load_wav_folder(tmp_path / "fsdd")
    assert by_digit.labels.tolist() == [3] and by_digit.speakers.tolist() == ["you"]
    assert fsdd.labels.tolist() == [7] and fsdd.speakers.tolist() == ["ana"]
    assert fsdd.waves.shape == (1, speech.LENGTH)
    soundfile.write(tmp_path / "fsdd" / "hello.wav", _tone(600, 0.4), RATE)
    with pytest.raises(speech.AudioFileError, match="hello.wav: cannot tell its digit"):
        speech.load_wav_folder(tmp_path / "fsdd")


# ------------------------------------------------------------------ features
def test_log_mel_shapes_silence_floor_and_a_tone_in_the_right_band():
    layer = audio.LogMelSpectrogram()
    out = layer(np.stack([_tone(1000), np.zeros(RATE, np.float32)])).numpy()
    assert out.shape == (2, 97, 40) == (2, layer.frames(RATE), layer.num_mel_bins)
    np.testing.assert_allclose(out[1], np.log(layer.floor), rtol=1e-5)
    centres = tf.signal.linear_to_mel_weight_matrix(40, 129, RATE, 20.0, 4000.0).numpy()
    expected_band = int(np.argmax(centres[int(round(1000 / (RATE / 2) * 128))]))
    assert int(np.argmax(out[0].mean(axis=0))) == expected_band


def test_mfcc_and_utterance_normalisation():
    log_mel = audio.LogMelSpectrogram()(_tone(700)[None])
    assert audio.MFCC(13)(log_mel).shape == (1, 97, 13)
    noise = np.random.default_rng(0).standard_normal((1, RATE)).astype(np.float32)
    features = audio.LogMelSpectrogram()(noise) * 3.0 + 5.0
    normalised = audio.UtteranceNormalization()(features).numpy()
    np.testing.assert_allclose(normalised.mean(axis=1), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalised.std(axis=1), 1.0, atol=1e-2)


@pytest.mark.parametrize("layer, shape", [
    (audio.AddNoise(seed=1), (4, RATE)),
    (audio.TimeShift(400, seed=1), (4, RATE)),
    (audio.SpecAugment(seed=1), (4, 97, 40)),
])
def test_augmentation_only_in_training(layer, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert not np.allclose(layer(x, training=True), x)


def test_add_noise_reaches_the_requested_snr():
    wave = _tone(500)[None]
    noisy = audio.AddNoise(20.0, 20.0, seed=3)(wave, training=True).numpy()
    snr = 10 * np.log10(np.mean(wave ** 2) / np.mean((noisy - wave) ** 2))
    assert 19.0 < snr < 21.0


# ------------------------------------------------------------------ models
@pytest.mark.parametrize("builder", [speech_models.rnn_classifier,
                                     speech_models.cnn_classifier])
def test_speech_models_take_waveforms_and_survive_save_and_load(builder, tmp_path):
    model = builder()
    x = np.stack([_tone(300), _tone(900)])
    out = model(x)
    assert out.shape == (2, 10) and not model.compiled
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


def test_cnn_loss_falls_on_real_recordings(rec, full_mode):
    config.seed_everything(0)
    data = speech.speech_datasets("documented", batch_size=64, rec=rec)
    model = speech_models.cnn_classifier()
    training.compile_classifier(model, learning_rate=3e-3)
    history = training.fit(model, data.train.take(10), epochs=6, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]

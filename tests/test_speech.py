"""Spoken-digit loaders and splits, your own WAV files, audio feature layers, speech models."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from conftest import require_real

from swtwo_tf import config, datasets, training
from swtwo_tf.datasets import speech
from swtwo_tf.layers import audio
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


@pytest.mark.slow
def test_the_real_dataset_has_every_take_of_five_speakers():
    require_real("spoken_digit")
    rec = speech.recordings()
    assert rec.source == "tfds"
    assert len(rec.labels) == 2500 and len(set(rec.speakers)) == 5
    _, test = speech.split_indices(rec, "documented")
    assert len(test) == 250  # FSDD's documented test set: 5 takes x 10 digits x 5 speakers


def test_documented_split_is_disjoint_complete_and_fsdd_s(rec):
    train, test = speech.split_indices(rec, "documented")
    assert not set(train) & set(test) and len(train) + len(test) == len(rec.labels)
    assert (rec.indices[test] < 5).all() and (rec.indices[train] >= 5).all()


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
def test_load_wav_makes_mono_8khz_and_cuts_the_word_out(tmp_path, rec):
    require_real("spoken_digit")
    (noisy,), ((start, end),) = speech.as_recorded(rec.waves[:1], seed=1)
    stereo = np.stack([noisy] * 2, axis=1)
    path = tmp_path / "seven_16k.wav"
    soundfile.write(path, stereo, 16_000)  # "recorded" at 16 kHz: resampled on reading
    soundfile.write(tmp_path / "seven_8k.wav", noisy, RATE)
    wave = speech.load_wav(path)
    assert wave.ndim == 1 and wave.dtype == np.float32
    assert np.abs(wave).max() == pytest.approx(speech.LEVEL, rel=1e-5)
    word = (end - start) / RATE
    assert word - 0.1 < len(wave) / RATE < word + 0.35, "the word stays, the noise around goes"
    assert len(noisy) / RATE > word + 0.9
    assert len(speech.load_wav(tmp_path / "seven_8k.wav", trim=False)) == len(noisy)


def test_as_recorded_places_each_word_inside_room_noise(rec):
    require_real("spoken_digit")
    waves, spans = speech.as_recorded(rec.waves[:20], seed=0)
    again, _ = speech.as_recorded(rec.waves[:20], seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(waves, again, strict=True))
    for wave, (start, end), clean in zip(waves, spans, rec.waves[:20], strict=True):
        word = clean[:np.flatnonzero(clean)[-1] + 1]
        assert end - start == len(word) and RATE <= len(wave) - len(word) <= 3 * RATE
        assert 0.05 <= np.abs(wave).max() <= 0.2 + 1e-6
        outside = np.concatenate([wave[:start], wave[end:]])
        assert np.abs(outside).max() > 0, "noise around the word"
        assert np.corrcoef(wave[start:end], word)[0, 1] > 0.9, "SNR >= 10 dB: corr >= 0.95"


def test_endpointing_finds_words_as_people_record_them(rec):
    """WebRTC's voice-activity detector, "the loudest speech segment" and the noise-floor
    trim cut most words out of 1-3 s of pink noise at 10-30 dB SNR whole (to 50 ms), keeping
    a few tens of ms of noise (the 50 ms edges)."""
    require_real("spoken_digit")
    picked = np.random.default_rng(1).choice(len(rec.waves), 100, replace=False)
    waves, spans = speech.as_recorded(rec.waves[picked], seed=0)
    whole, extra = [], []
    for wave, (start, end) in zip(waves, spans, strict=True):
        at, to = speech.endpoint_span(wave)
        np.testing.assert_array_equal(speech.endpoint(wave), wave[at:to])
        whole.append(at <= start + 0.05 * RATE and to >= end - 0.05 * RATE)
        extra.append((to - at - (end - start)) / RATE)
    assert np.mean(whole) >= 0.8, np.mean(whole)
    assert np.median(extra) < 0.15, np.median(extra)
    with pytest.raises(ValueError, match="wave must be 1-D"):
        speech.endpoint(np.zeros((2, 800), np.float32))
    quiet = np.zeros(RATE, np.float32)
    quiet[3_000:3_800] = 0.01 * np.sin(np.arange(800))  # no speech frame: the energy rule
    np.testing.assert_array_equal(speech.endpoint(quiet), speech.trim_silence(quiet))
    assert speech.endpoint_span(quiet) == (2_880, 3_840)  # whole 20 ms frames


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



SAMPLE_VOICES = config.REPO_ROOT / "data" / "samples" / "spoken_digit"


def test_personal_datasets_tune_on_some_takes_and_test_on_the_others(rec):
    voice = speech.load_wav_folder(SAMPLE_VOICES / "cal")
    assert len(voice.labels) == 60 and set(voice.speakers) == {"cal"}
    replay = rec.subset(speech.split_indices(rec, "documented")[0])
    data = speech.personal_datasets(voice, tune_takes=3, replay=replay, replay_size=40,
                                    batch_size=8)
    assert data.sizes == {"train": 30 + 40, "tune": 30, "test": 30}
    assert set(data.test_speakers) == {"cal"}
    train_waves = {bytes(w) for batch, _ in data.train for w in batch.numpy()}
    test_waves = [bytes(w) for batch, _ in data.test for w in batch.numpy()]
    assert len(test_waves) == 30 and not train_waves & set(test_waves)
    tuned = {bytes(w) for w in voice.waves[voice.indices < 3]}
    assert tuned <= train_waves and len(train_waves - tuned) == 40  # the replayed ones
    alone = speech.personal_datasets(voice, tune_takes=2)
    assert alone.sizes == {"train": 20, "tune": 20, "test": 40}
    with pytest.raises(ValueError, match="tune_takes=6 must leave takes on both sides"):
        speech.personal_datasets(voice, tune_takes=6)


def test_subset_keeps_every_field_in_step(rec):
    part = rec.subset([3, 1])
    assert part.labels.tolist() == rec.labels[[3, 1]].tolist()
    assert part.speakers.tolist() == rec.speakers[[3, 1]].tolist()
    np.testing.assert_array_equal(part.waves[0], rec.waves[3])
    with pytest.raises(ValueError, match="idx is empty"):
        speech.pipeline(rec, [])


# ------------------------------------------------------------------ features
def test_log_mel_shapes_silence_floor_and_a_tone_in_the_right_band():
    layer = audio.LogMelSpectrogram()
    out = layer(np.stack([_tone(1000), np.zeros(RATE, np.float32)])).numpy()
    assert out.shape == (2, 97, 40) == (2, layer.frames(RATE), layer.num_mel_bins)
    np.testing.assert_allclose(out[1], np.log(layer.floor), rtol=1e-5)
    centres = tf.signal.linear_to_mel_weight_matrix(40, 129, RATE, 20.0, 4000.0).numpy()
    expected_band = int(np.argmax(centres[int(round(1000 / (RATE / 2) * 128))]))
    assert int(np.argmax(out[0].mean(axis=0))) == expected_band


def test_with_spectrum_gives_a_matrix_dft_copy_that_answers_like_the_original(rec):
    waves = rec.waves[::max(1, len(rec.labels) // 12)][:12]  # several speakers and digits
    inputs = keras.Input((speech.LENGTH,))
    log_mel = audio.LogMelSpectrogram(name="log_mel")
    features = audio.UtteranceNormalization()(log_mel(inputs), inputs)
    inner = keras.Model(inputs, keras.layers.Dense(3)(features))
    model = keras.Sequential([inner])  # the log-mel layer is found inside a nested model
    before = model(waves).numpy()
    exported = audio.with_spectrum(model, "matrix")
    assert exported is not model

    def spectra(m):
        return [layer.spectrum for layer in audio.front_end_layers(m)
                if isinstance(layer, audio.LogMelSpectrogram)]

    assert spectra(exported) == ["matrix"] and spectra(model) == ["fft"]
    assert log_mel.spectrum == "fft"  # the original's layers are not changed
    np.testing.assert_allclose(exported(waves).numpy(), before, atol=1e-4)
    np.testing.assert_array_equal(model(waves).numpy(), before)
    for new, old in zip(exported.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(new, old)
    assert audio.with_spectrum(exported, "matrix") is exported  # nothing to change
    assert spectra(audio.with_spectrum(exported, "fft")) == ["fft"]
    no_log_mel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert audio.with_spectrum(no_log_mel, "matrix") is no_log_mel
    with pytest.raises(ValueError, match="spectrum must be 'fft' or 'matrix', got 'wavelet'"):
        audio.with_spectrum(model, "wavelet")


def test_the_matrix_dft_is_the_fft_on_noise_at_several_levels():
    rng = np.random.default_rng(0)
    waves = np.stack([rng.standard_normal(RATE) * 0.1, rng.standard_normal(RATE) * 0.003,
                      _tone(700) + rng.standard_normal(RATE).astype(np.float32) * 0.01])
    fft = audio.LogMelSpectrogram()(waves).numpy()
    matrix = audio.LogMelSpectrogram(spectrum="matrix")(waves).numpy()
    np.testing.assert_allclose(matrix, fft, atol=1e-4)


def test_mfcc_and_utterance_normalisation():
    log_mel = audio.LogMelSpectrogram()(_tone(700)[None])
    assert audio.MFCC(13)(log_mel).shape == (1, 97, 13)
    noise = np.random.default_rng(0).standard_normal((1, RATE)).astype(np.float32)
    features = audio.LogMelSpectrogram()(noise) * 3.0 + 5.0
    normalised = audio.UtteranceNormalization()(features).numpy()
    np.testing.assert_allclose(normalised.mean(axis=1), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalised.std(axis=1), 1.0, atol=1e-2)


def test_masked_normalisation_ignores_the_padding():
    rng = np.random.default_rng(0)
    wave = np.zeros((1, RATE), np.float32)
    wave[0, 800:3200] = rng.standard_normal(2400).astype(np.float32) * 0.3  # 0.1-0.4 s
    features = audio.LogMelSpectrogram()(wave)
    layer = audio.UtteranceNormalization()
    mask = layer.frame_mask(wave).numpy()[0, :, 0]
    out = layer(features, wave).numpy()[0]
    inside = mask > 0
    assert 28 <= inside.sum() <= 34 and not inside[:5].any() and not inside[-40:].any()
    assert np.all(out[~inside] == 0)
    np.testing.assert_allclose(out[inside].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out[inside].std(axis=0), 1, atol=1e-2)
    # Unmasked, the padding frames dominate: the recording's frames are far from mean 0.
    plain = layer(features).numpy()[0]
    assert np.abs(plain[inside].mean(axis=0)).mean() > 0.5


@pytest.mark.parametrize("layer, shape", [
    (audio.AddNoise(seed=1), (4, RATE)),
    (audio.SpeedPerturb(seed=1), (4, RATE)),
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



def test_speed_perturb_moves_the_pitch_by_its_rate():
    wave = _tone(500)[None]
    faster = audio.SpeedPerturb(1.2, 1.2, seed=0)(wave, training=True).numpy()[0]
    assert faster.shape == (RATE,)
    assert np.all(faster[int(RATE / 1.2) + 1:] == 0)  # played faster, it ends early
    spectrum = np.abs(np.fft.rfft(faster[:RATE // 2]))
    assert np.argmax(spectrum) * 2 == pytest.approx(600, abs=4)  # 500 Hz * 1.2
    with pytest.raises(ValueError, match="min_rate"):
        audio.SpeedPerturb(1.2, 1.0)


def test_add_noise_leaves_the_padding_silent():
    """Padding is exact zeros at inference; noise there in training would be a mismatch."""
    wave = np.zeros((1, RATE), np.float32)
    wave[0, 1000:3000] = _tone(500)[:2000]
    noisy = audio.AddNoise(10.0, 10.0, seed=3)(wave, training=True).numpy()
    assert np.all(noisy[0, :1000] == 0) and np.all(noisy[0, 3000:] == 0)
    added = noisy[0, 1000:3000] - wave[0, 1000:3000]
    snr = 10 * np.log10(np.mean(wave[0, 1000:3000] ** 2) / np.mean(added ** 2))
    assert 9.0 < snr < 11.0


# ------------------------------------------------------------------ models
@pytest.mark.parametrize("builder", [speech_models.rnn_classifier,
                                     speech_models.cnn_classifier])
@pytest.mark.slow
def test_speech_models_take_waveforms_and_survive_save_and_load(builder, tmp_path):
    model = builder()
    x = np.stack([_tone(300), _tone(900)])
    out = model(x)
    assert out.shape == (2, 10) and not model.compiled
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


@pytest.mark.slow
def test_rnn_reads_pooled_convolution_frames_or_the_bands_themselves():
    def gru_input(model):
        first = next(layer for layer in model.layers
                     if isinstance(layer, keras.layers.Bidirectional))
        return tuple(first.input.shape[1:])

    # 97 log-mel frames x 40 bands -> pooled to 48 frames x 5 bands x 32 channels
    assert gru_input(speech_models.rnn_classifier()) == (48, 5 * 32)
    assert gru_input(speech_models.rnn_classifier(conv_filters=8)) == (48, 5 * 16)
    assert gru_input(speech_models.rnn_classifier(conv_filters=0)) == (97, 40)


@pytest.mark.slow
def test_cnn_loss_falls_on_real_recordings(rec, full_mode):
    config.seed_everything(0)
    data = speech.speech_datasets("documented", batch_size=64, rec=rec)
    model = speech_models.cnn_classifier()
    training.compile_classifier(model, learning_rate=3e-3)
    history = training.fit(model, data.train.take(10), epochs=6, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]



@pytest.mark.slow
def test_rnn_loss_falls_on_real_recordings_and_recipes_are_named(rec, full_mode):
    config.seed_everything(0)
    data = speech.speech_datasets(f"speaker:{sorted(set(rec.speakers))[0]}", batch_size=32,
                                  rec=rec)
    model = speech_models.rnn_classifier()
    training.compile_classifier(model, learning_rate=3e-3)
    history = training.fit(model, data.train.take(6), epochs=4, verbose=0)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    with pytest.raises(ValueError, match="no recipe for spoken_digit/lstm"):
        training.train_recipe("spoken_digit", "lstm")

"""Synthetic voices (chapter 04, "More voices"): engines, takes, the room and channel, caching,
and the training pipelines that mix them with real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from swtwo_tf import config
from swtwo_tf.datasets import speech, voices


def _need(engine):
    if not voices.installed(engine):
        pytest.skip(f"{engine} is not installed (apt-get install {voices.PACKAGES[engine]}; "
                    ".ci/run does this)")


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setenv("SWTWO_BUILD_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("engine", voices.ENGINES)
def test_each_engine_says_a_digit_at_8_khz(engine):
    _need(engine)
    voice = voices.voices([engine])[0]
    wave = voices.render(voice, "seven")
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.2 < len(wave) / speech.SAMPLE_RATE < 1.2, "one word lasts a fraction of a second"
    assert np.abs(wave).max() > 0.05
    # the cut: the first and last 5 ms are not silence
    assert np.abs(wave[:40]).max() > 1e-3 and np.abs(wave[-40:]).max() > 1e-3


def test_rate_changes_the_length_of_a_word():
    _need("espeak-ng")
    voice = voices.Voice("espeak-ng", "en-us+m3")
    slow, fast = (voices.render(voice, "seven", rate=r) for r in (0.7, 1.4))
    assert len(slow) > 1.5 * len(fast)


def test_voices_are_distinct_and_counted():
    _need("espeak-ng")
    found = voices.voices()
    assert len({v.speaker for v in found}) == len(found)
    espeak = [v for v in found if v.engine == "espeak-ng"]
    assert len(espeak) == len(voices.ESPEAK_ACCENTS) * len(voices.ESPEAK_VARIANTS)


def test_a_missing_engine_is_named_with_its_package(monkeypatch):
    monkeypatch.setattr(voices.shutil, "which", lambda command: None)
    with pytest.warns(UserWarning, match="apt-get install flite"), \
            pytest.raises(voices.EngineMissing, match="apt-get install flite"):
        voices.voices(["flite"])
    with pytest.raises(voices.EngineMissing, match="espeak-ng is not installed"):
        voices.render(voices.Voice("espeak-ng", "en-us"), "one")
    with pytest.raises(ValueError, match="engine must be one of"):
        voices.installed("say")


def test_synthetic_recordings_are_labelled_deterministic_and_cached(build):
    _need("flite")
    recs = voices.synthetic_recordings(1, engines=["flite"], seed=3)
    assert recs.waves.shape == (10 * len(voices.FLITE_VOICES), speech.LENGTH)
    assert sorted(set(recs.labels)) == list(range(10))
    assert all(s.startswith("flite:") for s in recs.speakers)
    peaks = np.abs(recs.waves).max(axis=1)
    assert (peaks >= voices.PEAK[0] - 1e-6).all() and (peaks <= voices.PEAK[1] + 1e-6).all()
    assert list((build / "voices").glob("synthetic-*.npz")), "the set is cached"
    again = voices.synthetic_recordings(1, engines=["flite"], seed=3, cache=False)
    np.testing.assert_array_equal(recs.waves, again.waves)
    other = voices.synthetic_recordings(1, engines=["flite"], seed=4, cache=False)
    assert not np.allclose(recs.waves, other.waves)
    with pytest.raises(ValueError, match="takes must be a positive whole number"):
        voices.synthetic_recordings(0)


def test_the_channel_adds_noise_at_the_chosen_snr_and_cuts_like_fsdd():
    dry = np.sin(2 * np.pi * 440 * np.arange(4_000) / 8_000).astype(np.float32)
    dry = np.concatenate([np.zeros(2_000, np.float32), dry, np.zeros(2_000, np.float32)])
    wave = voices.record(dry, voices.channel(0), np.random.default_rng(0))
    assert wave.shape == (speech.LENGTH,)
    end = np.flatnonzero(wave)[-1]
    assert end < 7_000, "the silence around the word is cut, then the clip padded with zeros"
    assert (wave[:end] != 0).mean() > 0.99, "noise fills the clip: there is no digital silence"


def test_extra_recordings_join_training_only(build):
    rec = speech.Recordings(np.random.default_rng(0).normal(0, .1, (60, speech.LENGTH))
                            .astype(np.float32), np.arange(60) % 10, np.repeat(["a", "b"], 30),
                            np.arange(60) // 10 % 3, source="test")
    extra = rec.subset(np.arange(10))
    extra.speakers = np.full(10, "flite:kal")
    plain = speech.speech_datasets("speaker:b", rec=rec, batch_size=8)
    mixed = speech.speech_datasets("speaker:b", rec=rec, batch_size=8, extra=extra)
    assert mixed.sizes == {**plain.sizes, "train": plain.sizes["train"] + 10}
    assert sum(len(y) for _, y in mixed.train) == plain.sizes["train"] + 10
    assert sum(len(y) for _, y in mixed.test) == 30
    joined = rec + extra
    assert len(joined.waves) == 70 and joined.source == "test"
    assert joined.speakers[-1] == "flite:kal"
    assert config.build_dir() == build


def test_speed_perturbation_scales_time_down_and_frequency_up():
    t = np.arange(8_000) / 8_000
    tone = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    fast = voices.speed_perturb(tone, 1.1)
    assert len(fast) == round(8_000 / 1.1)
    spectrum = np.abs(np.fft.rfft(fast, 8_000))
    assert np.argmax(spectrum) == 220  # Hz: 1 Hz bins
    with pytest.raises(ValueError, match="factor must be a positive number"):
        voices.speed_perturb(tone, 0)

"""Digit strings made from FSDD (chapter 08): splits disjoint, transcripts true to the clips."""

import numpy as np
import pytest

from swtwo_tf.datasets import speech, strings


@pytest.fixture(scope="module")
def rec():
    return speech.recordings()


@pytest.fixture(scope="module")
def data(rec):
    return strings.digit_strings(recordings=rec, counts={"train": 40, "validation": 20,
                                                        "test": 30}, batch_size=8)


def test_documented_split_keeps_test_takes_in_test_strings_only(rec, data):
    parts = strings.split_recordings(rec, "documented")
    assert not set(parts["train"]) & set(parts["test"])
    assert not set(parts["validation"]) & (set(parts["train"]) | set(parts["test"]))
    used = {part: {p for r in s.recordings for p in r} for part, s in
            (("train", data.train_strings(0)), ("validation", data.validation_strings),
             ("test", data.test_strings))}
    assert all(rec.indices[p] < 5 for p in used["test"])
    assert all(rec.indices[p] >= 5 for p in used["train"] | used["validation"])
    assert not used["train"] & used["validation"]


def test_held_out_speaker_only_in_test_strings(rec):
    d = strings.digit_strings("speaker:theo", recordings=rec,
                              counts={"train": 30, "validation": 10, "test": 20})
    assert set(d.test_strings.speakers) == {"theo"}
    assert "theo" not in set(d.train_strings(0).speakers) | set(d.validation_strings.speakers)
    assert all(rec.speakers[p] == "theo" for r in d.test_strings.recordings for p in r)


def test_transcripts_match_the_recordings_and_word_times(rec):
    s = strings.assemble(rec, np.arange(len(rec.labels)), 25, seed=3, snr=None, level=(1, 1))
    for wave, digits, words, used in zip(s.waves, s.digits, s.words, s.recordings, strict=True):
        assert 1 <= len(digits) <= strings.MAX_DIGITS
        assert tuple(rec.labels[list(used)]) == digits
        assert [w[0] for w in words] == list(digits)
        scale = np.abs(wave).max() / np.abs(np.concatenate(
            [strings.trimmed(rec.waves[p]) for p in used])).max()
        for (_, start, end), p in zip(words, used, strict=True):
            clip = wave[round(start * 8000):round(end * 8000)]
            np.testing.assert_allclose(clip, strings.trimmed(rec.waves[p]) * scale, atol=1e-6)
        starts = [w[1] for w in words]
        assert starts == sorted(starts) and words[-1][2] <= len(wave) / 8000


def test_words_touch_sometimes_and_noise_reaches_its_snr(rec):
    s = strings.assemble(rec, np.arange(len(rec.labels)), 60, seed=1, touch=0.5, snr=20.0)
    gaps = [b[1] - a[2] for w in s.words for a, b in zip(w, w[1:], strict=False)]
    assert min(gaps) == 0 and max(gaps) > 0.05
    clean = strings.assemble(rec, np.arange(len(rec.labels)), 60, seed=1, touch=0.5, snr=None)
    for noisy, quiet, words in zip(s.waves, clean.waves, s.words, strict=True):
        inside = np.concatenate([np.arange(round(a * 8000), round(b * 8000)) for _, a, b in words])
        noise = noisy - quiet  # the same strings, the noise drawn apart
        snr = 10 * np.log10(np.mean(quiet[inside] ** 2) / np.mean(noise ** 2))
        assert snr == pytest.approx(20.0, abs=1.5)


def test_strings_are_deterministic_and_epochs_differ(data):
    again = data.train_strings(0)
    first = data.train_strings(0)
    assert first.transcripts == again.transcripts
    assert data.train_strings(1).transcripts != first.transcripts


def test_batches_pad_waves_with_zeros_and_digits_with_minus_one(data):
    x, y = next(iter(data.test))
    assert x["waveform"].shape[0] == y.shape[0] == len(x["samples"])
    for row in range(y.shape[0]):
        n = int(x["samples"][row])
        assert np.all(x["waveform"][row, n:] == 0)
        digits = y[row].numpy()
        assert np.all(digits[(digits >= 0).sum():] == -1) and (digits >= 0).sum() >= 1
    assert int(data.train.cardinality()) == 5
    for part in (data.train, data.validation, data.test):  # autotune's joins stalled epochs
        assert part.options().autotune.enabled is False


def test_bad_settings_name_the_setting(rec):
    with pytest.raises(ValueError, match="touch"):
        strings.assemble(rec, np.arange(10), 3, touch=2)
    with pytest.raises(ValueError, match="unknown string settings"):
        strings.assemble(rec, np.arange(10), 3, pauses=1)
    with pytest.raises(ValueError, match="all ten digits"):
        strings.assemble(rec, np.flatnonzero(rec.labels < 5), 3)
    with pytest.raises(ValueError, match="split"):
        strings.digit_strings("random", recordings=rec)


def test_a_long_recording_is_one_speaker_saying_groups_with_gaps(rec, data):
    long = data.makers["test"].recording(20, seed=5)
    assert len(long) == 1 and long.seconds[0] >= 20
    assert len({rec.speakers[p] for p in long.recordings[0]}) == 1
    words = long.words[0]
    assert [w[0] for w in words] == list(long.digits[0])
    assert max(b[1] - a[2] for a, b in zip(words, words[1:], strict=False)) >= 0.6  # a gap
    gap = long.waves[0][round(words[0][2] * 8000) + 800:round(words[1][1] * 8000) - 800]
    assert gap.size == 0 or np.abs(gap).max() > 0  # the room's noise fills the gaps too

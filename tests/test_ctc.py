"""Chapter 08's CTC recogniser: loss, decoding, training, streaming, PocketSphinx, metrics."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from swtwo_tf import evaluation
from swtwo_tf.datasets import speech, strings
from swtwo_tf.deploy import stream
from swtwo_tf.models import ctc

BANDS = (np.zeros(40, np.float32), np.ones(40, np.float32))


def test_ctc_loss_sums_over_every_alignment():
    # Uniform logits over 11 symbols: every path of T frames has probability 11^-T, and one
    # digit can be aligned to T frames in T (T + 1) / 2 ways (blanks, the digit, blanks).
    for frames in (1, 4, 9):
        samples = (frames * ctc.TIME_POOL - 1) * ctc.FRAME_STEP + ctc.FRAME_LENGTH
        loss = ctc.ctc_loss(tf.constant([[7]]), tf.zeros((1, frames, 11)), tf.constant([samples]))
        assert float(loss) == pytest.approx(
            -math.log(frames * (frames + 1) / 2) + frames * math.log(11), rel=1e-5)


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    b = ctc.BLANK
    path = [3, 3, b, 3, b, 5, 5, b, b, 0]
    logits = tf.one_hot([path], 11) * 10.0
    for strategy in ("greedy", "beam_search"):
        decoded = ctc.decode(logits, tf.constant([len(path)]), strategy=strategy).numpy()[0]
        assert [d for d in decoded if d >= 0] == [3, 3, 5, 0]
    with pytest.raises(ValueError, match="strategy"):
        ctc.decode(logits, tf.constant([10]), strategy="best")
    assert ctc.edit_distance(tf.constant([[3, 5, -1]]), tf.constant([[3, 3, 5]])).numpy()[0] == 1


def test_model_gives_one_frame_per_20_ms():
    model = ctc.ctc_recognizer(*BANDS, units=8, filters=4)
    waves = np.zeros((2, 8000), np.float32)
    logits = model({"waveform": waves, "samples": np.array([8000, 4000], np.int32)})
    assert logits.shape == (2, int(ctc.output_frames(8000)), 11)
    assert int(ctc.output_frames(8000)) == 48 and int(ctc.output_frames(4000)) == 23


@pytest.fixture(scope="module")
def rec():
    return speech.recordings()


@pytest.mark.slow
def test_training_lowers_the_ctc_loss_and_reports_der(rec):
    data = strings.digit_strings(recordings=rec, counts={"train": 64, "validation": 16,
                                                         "test": 16}, batch_size=16, max_digits=2)
    keras.utils.set_random_seed(0)
    model = ctc.ctc_recognizer(*ctc.band_statistics(data.train_strings(0).waves), units=16,
                               filters=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(data.validation, verbose=0, return_dict=True)
    history = model.fit(data.train, epochs=6, verbose=0)
    after = model.evaluate(data.validation, verbose=0, return_dict=True)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert after["loss"] < before["loss"] and 0 <= after["der"] <= 1.5


def test_streaming_gives_the_whole_file_logits_and_refuses_bidirectional(tmp_path):
    keras.utils.set_random_seed(1)
    model = ctc.ctc_recognizer(*BANDS, bidirectional=False, units=8, filters=4)
    wave = np.random.default_rng(0).normal(0, 0.1, 8000 * 3 + 123).astype(np.float32)
    whole = model({"waveform": wave[None], "samples": np.array([len(wave)], np.int32)})
    for chunk in (0.02, 0.16, 0.5):
        result = stream.Streamer(model, chunk_seconds=chunk).stream(wave)
        np.testing.assert_allclose(result.logits, whole.numpy()[0], atol=1e-4)
    assert result.real_time_factor > 0 and result.seconds == pytest.approx(3.015375)
    with pytest.raises(ValueError, match="bidirectional"):
        stream.Streamer(ctc.ctc_recognizer(*BANDS, units=8, filters=4))
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(
        again({"waveform": wave[None], "samples": np.array([len(wave)], np.int32)}), whole,
        atol=1e-5)


def test_digit_delays_pair_words_with_emissions():
    result = stream.StreamResult("47", [stream.Emission(4, 0.2, 0.24, 0.48),
                                        stream.Emission(7, 0.8, 0.82, 0.96)], np.zeros((1, 11)),
                                 1.0, 0.01)
    assert stream.digit_delays(result, [(4, 0.1, 0.4), (7, 0.5, 0.9)]) == pytest.approx(
        [0.08, 0.06])
    assert stream.digit_delays(result, [(4, 0.1, 0.4)]) == []


def test_transcription_errors_count_each_kind():
    errors = evaluation.transcription_errors(["407", "12", "5"], ["4077", "", "9"])
    assert (errors["substitutions"], errors["deletions"], errors["insertions"]) == (1, 2, 1)
    assert errors["der"] == pytest.approx(4 / 6) and errors["string_accuracy"] == 0
    assert evaluation.transcription_errors(["1 2"], ["12"])["der"] == 0
    with pytest.raises(ValueError, match="digit strings"):
        evaluation.transcription_errors(["12"], ["one two"])


def test_pocketsphinx_hears_digits_in_a_clean_string(rec):
    from swtwo_tf.models import sphinx

    s = strings.assemble(rec, np.flatnonzero(rec.speakers == "jackson"), 6, seed=2, snr=None)
    heard = sphinx.transcribe(s.waves)
    errors = evaluation.transcription_errors(["".join(map(str, d)) for d in s.digits], heard)
    assert errors["der"] < 0.6
    # a recording too short for any word (10 ms) is heard as nothing, not an error
    assert sphinx.transcribe([np.zeros(80, np.float32)]) == [""]
    # isolated digits (chapter 04): exactly one of the ten words
    picked = np.flatnonzero(rec.speakers == "theo")[::25]
    one = sphinx.transcribe(rec.waves[picked], one_digit=True)
    assert all(len(h) <= 1 for h in one), one
    assert np.mean([int(h or -1) for h in one] == rec.labels[picked]) >= 0.6, one


def test_swtwo_transcribe_prints_digits_with_times_and_refuses_bad_files(tmp_path, capsys, rec):
    import json

    import soundfile

    from swtwo_tf import cli

    keras.utils.set_random_seed(2)
    model = ctc.ctc_recognizer(*BANDS, bidirectional=False, units=8, filters=4)
    path = tmp_path / "m.keras"
    model.save(path)
    s = strings.assemble(rec, np.arange(len(rec.labels)), 1, seed=4)
    wav = tmp_path / "digits.wav"
    soundfile.write(wav, np.repeat(s.waves[0], 2), 16_000)  # any rate: resampled to 8 kHz
    for extra in ([], ["--stream"]):
        assert cli.main(["transcribe", str(wav), "--model", str(path), "--json", *extra]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["seconds"] == pytest.approx(len(s.waves[0]) / 8000, abs=0.01)
        assert out["digits"] == "".join(str(w["digit"]) for w in out["words"])
        assert all(0 <= w["start"] < w["end"] <= out["seconds"] + 0.05 for w in out["words"])
        assert ("printed" in (out["words"] or [{"printed": 0}])[0]) == bool(extra)
    whole = json.loads((cli.main(["transcribe", str(wav), "--model", str(path), "--json"]),
                        capsys.readouterr().out)[1])
    assert whole["digits"] == out["digits"]  # streaming decodes the same logits
    (tmp_path / "bad.wav").write_text("not audio")
    soundfile.write(tmp_path / "silent.wav", np.zeros(8000), 8000)
    soundfile.write(tmp_path / "long.wav", np.ones(8000 * 121) * 0.1, 8000)
    for bad, reason in (("bad.wav", "cannot be read"), ("silent.wav", "silent"),
                        ("long.wav", "at most 120 s"), ("missing.wav", "no such file")):
        assert cli.main(["transcribe", str(tmp_path / bad), "--model", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert reason in err and len(err.splitlines()) == 1, err
    assert cli.main(["predict", str(path), str(wav)]) == 2
    assert "swtwo transcribe" in capsys.readouterr().err


def test_digit_confusions_count_substitutions_only():
    confusions = evaluation.digit_confusions(["4075", "12", "59", "88"], ["4175", "", "89", "8"])
    assert confusions == {("0", "1"): 1, ("5", "8"): 1}


def test_greedy_spans_give_each_digit_its_frames():
    b = ctc.BLANK
    logits = np.eye(11)[[b, 3, 3, b, 3, b, b, 5, b]]
    assert ctc.greedy_spans(logits) == [(3, 1, 3), (3, 4, 5), (5, 7, 8)]
    assert ctc.collapse(logits.argmax(axis=-1)) == [3, 3, 5]


@pytest.mark.slow
def test_swtwo_train_evaluate_and_transcribe_a_digit_string_recogniser(tmp_path, capsys, rec):
    import json

    import soundfile

    from swtwo_tf import cli

    out = tmp_path / "run"
    assert cli.main(["train", "digit_strings", "--model", "ctc_streaming", "--quick",
                     "--epochs", "1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test_der"] <= 2 and "test_accuracy" not in metrics
    assert (out / "model.keras").is_file() and not (out / "model.tflite").exists()
    model = str(out / "model.keras")
    capsys.readouterr()
    assert cli.main(["evaluate", model, "--dataset", "digit_strings", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == strings.QUICK_COUNTS["test"] and "test_der" in report
    assert cli.main(["evaluate", model, "--dataset", "spoken_digit"]) == 2
    wav = tmp_path / "s.wav"
    one = strings.assemble(rec, np.arange(len(rec.labels)), 1, seed=0)
    soundfile.write(wav, one.waves[0], 8000)
    assert cli.main(["transcribe", str(wav), "--model", model, "--stream"]) == 0
    assert str(wav) in capsys.readouterr().out

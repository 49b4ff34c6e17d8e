"""The ``swtwo`` command as a newcomer meets it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_real

from swtwo_tf import cli, datasets


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("swtwo")
    assert exe.is_file(), "the swtwo console script should be installed beside python"
    result = subprocess.run([str(exe), "datasets", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "download" in result.stdout


def test_status_table_with_nothing_prepared(tmp_path, capsys):
    assert cli.main(["datasets", "status", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    real = datasets.names(real=True)  # seen_and_heard is made by the kit, not downloaded
    for name in real:
        assert f"swtwo datasets download {name}" in out
    assert out.count("MISSING") == len(real)
    assert "offline sample data/samples/mnist.npz" in out
    assert str(tmp_path) in out


def test_status_table_with_real_data(capsys):
    folder = require_real("mnist")
    assert cli.main(["datasets", "status"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "ready" in out and "train 60,000 / test 10,000" in out
    assert str(folder / "mnist" / "3.0.1") in out


def test_status_json(tmp_path, capsys):
    assert cli.main(["datasets", "status", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(datasets.names(real=True))


def test_download_offline_exits_2_with_one_clear_message(tmp_path, offline, capsys):
    code = cli.main(["datasets", "download", "spoken_digit", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("swtwo: error: Dataset 'spoken_digit'")
    assert "no network" in err and "Traceback" not in err


def test_download_of_a_prepared_dataset_is_a_no_op(capsys):
    require_real("imdb_reviews")
    assert cli.main(["datasets", "download", "imdb_reviews"]) == 0
    assert "already prepared" in capsys.readouterr().out


def test_unknown_dataset_exits_2(capsys):
    assert cli.main(["datasets", "download", "cifar10"]) == 2
    assert "unknown dataset 'cifar10'" in capsys.readouterr().err


def test_env_report(capsys):
    assert cli.main(["env"]) == 0
    out = capsys.readouterr().out
    assert "TensorFlow 2.21" in out and "CPU cores" in out and "Mode:" in out


def test_course_refuses_missing_notebook(capsys):
    assert cli.main(["course", "nope/99_missing.ipynb"]) == 2
    assert "notebook not found" in capsys.readouterr().err


@pytest.mark.parametrize("seconds", ["0", "-5"])
def test_course_refuses_a_timeout_that_is_not_positive(capsys, seconds):
    assert cli.main(["course", "--timeout", seconds]) == 2
    assert "--timeout: expected a positive number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["datasets", "status", "--help"],
                                  ["datasets", "download", "--help"], ["course", "--help"],
                                  ["train", "--help"], ["evaluate", "--help"],
                                  ["predict", "--help"], ["export", "--help"]])
def test_help_everywhere(argv):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 0



# ------------------------------------------------------------------ train / evaluate / predict
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A spoken-digit CNN trained by ``swtwo train --quick``, interrupted once and resumed."""
    import keras

    out = tmp_path_factory.mktemp("run")
    real = keras.callbacks.BackupAndRestore

    class InterruptAfterFirstEpoch(real):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            raise KeyboardInterrupt

    argv = ["train", "spoken_digit", "--model", "cnn_classifier", "--quick", "--epochs", "2",
            "--out", str(out)]
    keras.callbacks.BackupAndRestore = InterruptAfterFirstEpoch
    try:
        first = cli.main(argv)
    finally:
        keras.callbacks.BackupAndRestore = real
    backup_left = (out / "backup").is_dir()
    second = cli.main(argv)
    return {"out": out, "codes": (first, second), "backup_left": backup_left,
            "metrics": json.loads((out / "metrics.json").read_text())}


@pytest.mark.slow
def test_an_interrupted_train_resumes_and_finishes_its_epochs(trained, capsys):
    assert trained["codes"] == (130, 0) and trained["backup_left"]
    metrics = trained["metrics"]
    assert metrics["epochs"] == 2 and metrics["model"] == "cnn_classifier"
    assert metrics["class_names"] == [str(d) for d in range(10)]
    assert metrics["mode"] == "quick" and metrics["split"] == "documented"
    assert (trained["out"] / "model.keras").is_file() and (trained["out"] / "best.keras").is_file()
    assert not (trained["out"] / "backup").exists(), "a finished run removes its backup"


@pytest.mark.slow
def test_evaluate_and_predict_a_trained_model(trained, capsys):
    model = str(trained["out"] / "model.keras")
    assert cli.main(["evaluate", model, "--dataset", "spoken_digit", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test_accuracy"] == pytest.approx(trained["metrics"]["test_accuracy"],
                                                    abs=1e-3)
    wavs = [str(SAMPLES / "spoken_digit" / "ava" / f"{d}_ava_0.wav") for d in (3, 7)]
    assert cli.main(["predict", model, *wavs, "--json", "--top-k", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows] == wavs and all(len(r["top"]) == 2 for r in rows)
    assert cli.main(["predict", model, wavs[0]]) == 0
    assert "3_ava_0.wav" in capsys.readouterr().out


@pytest.mark.slow
def test_predict_an_image_and_text(tmp_path, capsys):
    from swtwo_tf.models import vision

    image_model = vision.seed_cnn()
    image_model.save(tmp_path / "digits.keras")
    image = str(SAMPLES / "images" / "digit_3.png")
    assert cli.main(["predict", str(tmp_path / "digits.keras"), image, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["input"] == image and row["label"] in [str(d) for d in range(10)]
    from swtwo_tf.models import text as text_models

    # nb_ngrams, the default text model of swtwo train: its custom layer must load safely.
    text_model = text_models.nb_ngrams(["a good film", "a bad film", "good", "bad"] * 3,
                                       [1, 0, 1, 0] * 3)
    text_model.save(tmp_path / "reviews.keras")
    (tmp_path / "review.txt").write_text("A good film.", encoding="utf-8")
    argv = ["predict", str(tmp_path / "reviews.keras"), str(tmp_path / "review.txt"),
            "--text", "good"]
    assert cli.main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows] == ["good", str(tmp_path / "review.txt")]
    assert [r["label"] for r in rows] == ["positive", "positive"]
    assert cli.main(["predict", str(tmp_path / "reviews.keras"), "--text", "  "]) == 2
    assert "empty" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "reviews.keras"), image]) == 2
    assert "takes text input; expected a TXT file" in capsys.readouterr().err


def _bad(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "model.keras").write_text("not a zip")
    return tmp_path


@pytest.mark.parametrize("extra, message", [
    (["missing.wav"], "missing.wav: no such file"),
    (["{bad}/broken.png"], "the model takes audio input; expected a WAV file"),
    (["--text", "good film"], "--text given, but the model takes audio input"),
    ([], "nothing to predict"),
])
@pytest.mark.slow
def test_predict_bad_input_exits_2_with_one_line(trained, tmp_path, capsys, extra, message):
    bad = _bad(tmp_path)
    argv = ["predict", str(trained["out"] / "model.keras"),
            *[e.format(bad=bad) for e in extra]]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_bad_model_files_and_bad_audio_exit_2(trained, tmp_path, capsys):
    bad = _bad(tmp_path)
    for model, message in ((bad / "model.keras", "not a Keras model file"),
                           (bad / "notes.txt", "not a Keras model file"),
                           (bad / "nope.keras", "no such file")):
        assert cli.main(["predict", str(model), "x.wav"]) == 2
        assert message in capsys.readouterr().err
    import numpy as np
    import soundfile

    long_speech = np.tile(np.sin(np.arange(4000) / 3.0), 3).astype(np.float32) * 0.5
    soundfile.write(bad / "long.wav", long_speech, 8000)
    (bad / "corrupt.wav").write_bytes(b"RIFF....WAVEjunk")
    model = str(trained["out"] / "model.keras")
    for file, message in (("long.wav", "1.50 s of speech"),
                          ("corrupt.wav", "cannot be read as audio")):
        assert cli.main(["predict", model, str(bad / file)]) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["evaluate", model, "--dataset", "mnist"]) == 2
    assert "cannot be used with mnist" in capsys.readouterr().err


# ------------------------------------------------------------------ export / TFLite predict
@pytest.mark.slow
def test_train_also_writes_a_tflite_model_that_predicts_like_the_keras_one(trained, capsys):
    lite = trained["out"] / "model.tflite"
    assert lite.is_file()
    wav = str(SAMPLES / "spoken_digit" / "ava" / "5_ava_0.wav")
    assert cli.main(["predict", str(trained["out"] / "model.keras"), wav, "--json"]) == 0
    (keras_row,) = json.loads(capsys.readouterr().out)
    assert cli.main(["predict", str(lite), wav, "--json"]) == 0
    (lite_row,) = json.loads(capsys.readouterr().out)
    assert lite_row["label"] == keras_row["label"]
    assert lite_row["probability"] == pytest.approx(keras_row["probability"], abs=1e-3)


@pytest.mark.slow
def test_export_every_format_and_evaluate_the_tflite_ones(trained, capsys):
    out = trained["out"]
    model = str(out / "model.keras")
    for fmt in cli.EXPORT_FORMATS:
        assert cli.main(["export", model, "--format", fmt]) == 0, fmt
        target = out / cli.EXPORT_FORMATS[fmt][1]
        assert target.exists() and str(target) in capsys.readouterr().out
    sizes = {f: (out / cli.EXPORT_FORMATS[f][1]).stat().st_size
             for f in ("tflite", "tflite-dynamic", "tflite-int8")}
    assert sizes["tflite"] > 3 * max(sizes["tflite-dynamic"], sizes["tflite-int8"])
    keras_accuracy = trained["metrics"]["test_accuracy"]
    for fmt, tolerance in (("tflite", 0.005), ("tflite-dynamic", 0.03), ("tflite-int8", 0.05)):
        path = str(out / cli.EXPORT_FORMATS[fmt][1])
        assert cli.main(["evaluate", path, "--dataset", "spoken_digit", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["test_accuracy"] == pytest.approx(keras_accuracy, abs=tolerance), fmt
    assert cli.main(["export", model, "--format", "savedmodel"]) == 2
    assert "savedmodel exists" in capsys.readouterr().err


@pytest.mark.slow
def test_export_refuses_what_it_cannot_make(trained, tmp_path, capsys):
    from swtwo_tf.models import speech as speech_models
    from swtwo_tf.models import text as text_models

    text_models.bag_of_ngrams(["a good film", "a bad film"] * 3).save(tmp_path / "t.keras")
    speech_models.rnn_classifier().save(tmp_path / "rnn.keras")
    speech_models.cnn_classifier().save(tmp_path / "cnn.keras")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    for argv, message in (
        ([str(tmp_path / "t.keras"), "--format", "tflite"], "TFLite has no string ops"),
        ([str(tmp_path / "rnn.keras"), "--format", "tflite-int8"], "use the 'dynamic' variant"),
        ([str(tmp_path / "cnn.keras"), "--format", "tflite-int8"], "pass --dataset NAME"),
        ([str(tmp_path / "cnn.keras"), "--format", "tflite-int8", "--dataset", "mnist"],
         "cannot be used with mnist"),
        ([str(trained["out"] / "model.tflite"), "--format", "tflite"], "already a TFLite model"),
    ):
        assert cli.main(["export", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert cli.main(["predict", str(tmp_path / "junk.tflite"), "x.wav"]) == 2
    assert "junk.tflite: not a TFLite model" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_with_tflite_never_imports_tensorflow(trained):
    code = ("import sys; from swtwo_tf import cli; "
            f"rc = cli.main(['predict', {str(trained['out'] / 'model.tflite')!r}, "
            f"{str(SAMPLES / 'spoken_digit' / 'ava' / '2_ava_0.wav')!r}]); "
            "assert rc == 0; assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

"""The ``swtwo`` command as a newcomer meets it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_real

from swtwo_tf import cli
from swtwo_tf.datasets import core


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("swtwo")
    assert exe.is_file(), "the swtwo console script should be installed beside python"
    result = subprocess.run([str(exe), "datasets", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "download" in result.stdout


def test_status_table_with_nothing_prepared(tmp_path, capsys):
    assert cli.main(["datasets", "status", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in core.DATASETS:
        assert f"swtwo datasets download {name}" in out
    assert out.count("MISSING") == len(core.DATASETS)
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
    assert {r["name"] for r in rows} == set(core.DATASETS)


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


@pytest.mark.parametrize("argv", [["--help"], ["datasets", "status", "--help"],
                                  ["datasets", "download", "--help"], ["course", "--help"]])
def test_help_everywhere(argv):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 0

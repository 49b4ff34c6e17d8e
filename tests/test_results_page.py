"""docs/results.md is generated from benchmarks/results/*.json and kept in step with them."""

from __future__ import annotations

import json
import sys

from swtwo_tf import config

sys.path.insert(0, str(config.REPO_ROOT / "benchmarks"))
import results_page  # noqa: E402


def test_the_committed_page_is_what_the_reports_give():
    page = config.REPO_ROOT / "docs" / "results.md"
    assert page.is_file(), f"docs/results.md is missing: run {results_page.COMMAND}"
    assert page.read_text() == results_page.render(), (
        f"docs/results.md is out of date with benchmarks/results/*.json: run "
        f"{results_page.COMMAND}")


def _report(tmp_path):
    (tmp_path / "images.json").write_text(json.dumps({
        "command": "python benchmarks/images.py", "date": "2030-01-02", "mode": "full",
        "machine": {"cpu_cores": 2, "cpu_model": "Test CPU", "cpu_flags": ["avx2"], "gpus": 0},
        "tensorflow": "2.99.0",
        "results": [
            {"dataset": "mnist", "model": "tiny", "test_accuracy": 0.98765, "epochs": 3,
             "train_seconds": 125.0, "train_cpu_seconds": 200.5, "parameters": 1234,
             "batch_size": 64, "p50_ms": 0.0543, "note": "a | b",
             "command": "python benchmarks/images.py", "date": "2030-01-02"},
            {"dataset": "mnist", "model": "none", "test_accuracy": None, "epochs": 0,
             "train_seconds": 0.5, "parameters": 10, "batch_size": 0,
             "command": "python benchmarks/images.py --only mnist", "date": "2030-01-03"},
        ]}))
    (tmp_path / "course.json").write_text(json.dumps({"chapters": {
        "01_b": {"status": "passed", "wall_seconds": 480.0, "cpu_seconds": 900.0,
                 "cpu_model": "Test CPU", "avx512": True, "mode": "full", "date": "2030-01-04"},
        "00_a": {"status": "failed", "wall_seconds": 20.0, "cpu_seconds": None,
                 "cpu_model": "Test CPU", "avx512": False, "mode": "full", "date": "2030-01-04"},
    }}))


def test_the_renderer_on_a_tiny_report(tmp_path):
    _report(tmp_path)
    text = results_page.render(tmp_path)
    assert text.startswith("# Results\n") and results_page.COMMAND in text.splitlines()[2]
    assert text == results_page.render(tmp_path)  # deterministic
    assert "## Images (chapters 01-02)" in text and "TensorFlow 2.99.0" in text
    assert "- machine (AVX2): 2 CPU cores; CPU Test CPU; features avx2; no GPU" in text
    assert "- date: 2030-01-02, 2030-01-03" in text
    assert ("| dataset | model | CPU kind | test accuracy | epochs | train wall time | "
            "train CPU time | parameters | batch | note | p50 ms | command |") in text
    assert ("| mnist | tiny | AVX2 | 98.77 % | 3 | 125.0 s (2.1 min) | 200.5 s (3.3 min) | "
            "1,234 | 64 | a \\| b | 0.054 | python benchmarks/images.py |") in text
    assert "| mnist | none | AVX2 | - | 0 | 0.50 s | - | 10 | 0 | - | - |" in text
    course = text.index("## Chapters in full mode")
    assert course < text.index("## Images")
    assert ("| 00_a | AVX2 | failed | 20.0 s | - | Test CPU | full | 2030-01-04 |\n"
            "| 01_b | AVX-512 | passed | 480.0 s (8.0 min) | 900.0 s (15.0 min) | Test CPU "
            "| full | 2030-01-04 |") in text


def test_both_cpu_kinds_sit_side_by_side_each_with_its_machine(tmp_path):
    machine = {"cpu_cores": 2, "cpu_model": "Test CPU", "gpus": 0, "tensorflow": "2.99.0"}
    row = {"dataset": "mnist", "test_accuracy": 0.99, "command": "x", "date": "2030-01-02"}
    (tmp_path / "images.json").write_text(json.dumps({
        "command": "x", "date": "2030-01-02", "mode": "full", "tensorflow": "2.99.0",
        "machine": {**machine, "cpu_flags": ["avx2"]},
        "machines": {"AVX-512": {**machine, "cpu_flags": ["avx2", "avx512f"]},
                     "AVX2": {**machine, "cpu_flags": ["avx2"]}},
        "results": [{**row, "model": "a", "cpu_kind": "AVX-512"},
                    {**row, "model": "b", "cpu_kind": "AVX-512"},
                    {**row, "model": "a", "cpu_kind": "AVX2", "test_accuracy": 0.98}]}))
    text = results_page.render(tmp_path)
    assert "- machine (AVX-512): 2 CPU cores; CPU Test CPU; features avx2, avx512f" in text
    assert "- machine (AVX2): 2 CPU cores; CPU Test CPU; features avx2;" in text
    assert ("| mnist | a | AVX-512 | 99.00 % |\n| mnist | a | AVX2 | 98.00 % |\n"
            "| mnist | b | AVX-512 | 99.00 % |") in text


def test_check_says_what_to_run(tmp_path, capsys):
    _report(tmp_path)
    page = tmp_path / "results.md"
    args = ["--results", str(tmp_path), "--out", str(page)]
    assert results_page.main(["--check", *args]) == 1
    assert f"run {results_page.COMMAND}" in capsys.readouterr().err
    assert results_page.main(args) == 0
    assert results_page.main(["--check", *args]) == 0


def test_slowest_cells_are_written_as_cell_and_seconds():
    cells = [{"cell": 20, "id": "c18", "seconds": 23.7, "source": "cnn = train()"},
             {"cell": 8, "id": "c06", "seconds": 12.2, "source": "EPOCHS | 15"}]
    assert results_page._cell("slowest_cells", cells) == "cell 20 (24 s), cell 8 (12 s)"
    assert results_page._cell("slowest_cells", None) == "-"


def test_accuracy_gaps_are_points_and_per_digit_accuracies_stay_in_the_json():
    assert results_page._cell("speaker_gap", 0.164) == "16.40 %"
    assert results_page._cell("as_recorded_accuracy", 0.9) == "90.00 %"
    row = {"dataset": "spoken_digit", "model": "m", "split": "documented", "test_accuracy": 0.99,
           "per_digit": {str(d): 0.9 for d in range(10)}, "speaker_gap": 0.05}
    page = results_page.render_report("speech", {"results": [row], "machine": {}})
    table = [line for line in page.splitlines() if line.startswith("|")]
    assert not any("per" in line for line in table) and "| 5.00 % |" in table[-1]
    assert "- per-row per_digit: in the JSON" in page

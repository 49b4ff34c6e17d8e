"""`make course`'s runner: executed notebooks, one summary page per chapter, and the chapter
times a full-mode run records in ``benchmarks/results/course.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbclient
import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from swtwo_tf import cli, course


def _notebook(path, code_cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 98 A tiny chapter")]
                                  + [nbformat.v4.new_code_cell(c) for c in code_cells])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}}
    nbformat.write(nb, path)
    return path


#: A child process that spends about this many CPU seconds, standing in for a kernel.
BUSY = 0.3


class FakeClient:
    """Stands in for nbclient's NotebookClient without starting a kernel: "executing" a
    notebook runs a short busy child process (reaped, like the kernel nbclient shuts down),
    and a notebook whose first code cell raises fails the way a real one would."""

    def __init__(self, nb, **kwargs):
        self.nb = nb

    def execute(self):
        subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + "
                        f"{BUSY}\nwhile time.process_time() < end: pass"], check=True)
        code = [c for c in self.nb.cells if c.cell_type == "code"]
        if code and code[0].source.startswith("raise"):
            raise CellExecutionError("Traceback", "RuntimeError", "chapter broke")


@pytest.fixture
def fake_kernel(monkeypatch):
    for name in ("SWTWO_QUICK", "SWTWO_BUILD_DIR", "JUPYTER_PATH"):  # run() sets them;
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    monkeypatch.setattr(nbclient, "NotebookClient", FakeClient)


def test_a_full_run_records_each_chapter_and_keeps_the_others(tmp_path, fake_kernel):
    record = tmp_path / "course.json"
    course.record_chapters({"00_other": {"status": "passed", "wall_seconds": 9.0}}, record)
    good = _notebook(tmp_path / "98_good.ipynb", ["x = 1"])
    bad = _notebook(tmp_path / "99_bad.ipynb", ["raise RuntimeError('chapter broke')"])
    assert course.run([good, bad], tmp_path / "build", quick=False, record=record) == 1
    chapters = json.loads(record.read_text())["chapters"]
    assert sorted(chapters) == ["00_other", "98_good", "99_bad"]
    assert chapters["00_other"] == {"not recorded": {"status": "passed", "wall_seconds": 9.0}}
    kind = course.config.cpu_kind()
    good_row, bad_row = chapters["98_good"][kind], chapters["99_bad"][kind]
    assert good_row["status"] == "passed" and bad_row["status"] == "failed"
    assert good_row["mode"] == "full" and good_row["title"] == "98 A tiny chapter"
    assert good_row["cpu_seconds"] >= BUSY * 0.8  # the child's CPU time, measured
    assert good_row["wall_seconds"] >= good_row["cpu_seconds"] / (os.cpu_count() or 1)
    assert good_row["cpu_model"] and good_row["avx512"] in (True, False, None)
    assert len(good_row["date"]) == 10 and good_row["cpu_cores"] >= 1
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    index = (tmp_path / "build" / "summary" / "README.md").read_text()
    assert "| CPU time |" in index and "99_bad" in index
    assert "CPU s in the kernel" in (tmp_path / "build" / "summary" / "98_good.md").read_text()


def test_a_second_run_of_one_chapter_replaces_only_its_entry(tmp_path, fake_kernel):
    record = tmp_path / "course.json"
    one = _notebook(tmp_path / "01_one.ipynb", ["x = 1"])
    two = _notebook(tmp_path / "02_two.ipynb", ["x = 2"])
    course.run([one, two], tmp_path / "build", record=record)
    first = json.loads(record.read_text())["chapters"]
    course.run([two], tmp_path / "build", record=record)
    second = json.loads(record.read_text())["chapters"]
    assert second["01_one"] == first["01_one"] and sorted(second) == ["01_one", "02_two"]


def test_each_cpu_kind_keeps_its_own_time_of_a_chapter(tmp_path):
    record = tmp_path / "course.json"
    record.write_text(json.dumps({"chapters": {"01_one": {  # the format before kinds
        "status": "passed", "wall_seconds": 600.0, "avx512": False}}}))
    course.record_chapters({"01_one": {"status": "passed", "wall_seconds": 120.0,
                                       "cpu_flags": ["avx2", "avx512f"]}}, record)
    course.record_chapters({"01_one": {"status": "passed", "wall_seconds": 580.0,
                                       "cpu_flags": ["avx2", "fma"]}}, record)
    chapters = json.loads(record.read_text())["chapters"]
    assert {kind: e["wall_seconds"] for kind, e in chapters["01_one"].items()} == {
        "AVX-512": 120.0, "AVX2": 580.0}


def test_a_quick_run_records_nothing(tmp_path, fake_kernel):
    record = tmp_path / "course.json"
    nb = _notebook(tmp_path / "98_good.ipynb", ["x = 1"])
    assert course.run([nb], tmp_path / "build", quick=True, record=record) == 0
    assert not record.exists()
    assert "CPU s in the kernel" in (tmp_path / "build" / "summary" / "98_good.md").read_text()


def test_the_quick_mode_benchmark_times_each_notebook_against_its_cpus_budget(
        tmp_path, fake_kernel, monkeypatch):
    sys.path.insert(0, str(course.config.REPO_ROOT / "benchmarks"))
    import quick_mode

    good = _notebook(tmp_path / "98_good.ipynb", ["x = 1"])
    bad = _notebook(tmp_path / "99_bad.ipynb", ["raise RuntimeError('chapter broke')"])
    monkeypatch.setattr(course.config, "cpu_info", lambda: {"cpu_model": "x", "avx512": False})
    row = quick_mode.measure(good, tmp_path / "build")
    assert row["notebook"] == "98_good" and row["status"] == "passed"
    assert row["cpu_seconds"] >= BUSY * 0.8 and row["wall_seconds"] > 0
    assert row["budget_seconds"] == 180 and row["within_budget"]
    assert os.environ["SWTWO_QUICK"] == "1"  # what the notebook ran under
    monkeypatch.setattr(course.config, "cpu_info", lambda: {"cpu_model": "x", "avx512": True})
    failed = quick_mode.measure(bad, tmp_path / "build")
    assert failed["status"] == "failed" and failed["budget_seconds"] == 90


def test_the_slowest_cells_come_from_the_execution_timestamps():
    def cell(source, began=None, ended=None):
        code = nbformat.v4.new_code_cell(source)
        if began is not None:
            code.metadata["execution"] = {
                "iopub.execute_input": f"2026-12-02T10:00:{began:06.3f}Z",
                "shell.execute_reply": f"2026-12-02T10:00:{ended:06.3f}Z"}
        return code

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 98"), cell("a = 1", 0, 1.5),
        cell("train()\nmore()", 2, 14.25), cell("never_run()"), cell("b = 2", 15, 15.5)])
    rows = course.slowest_cells(nb, n=2)
    assert [(r["cell"], r["seconds"], r["source"]) for r in rows] == [
        (2, 12.2, "train()"), (1, 1.5, "a = 1")]
    assert len(course.slowest_cells(nb, n=10)) == 3  # the cell never run is left out


def test_the_course_report_takes_only_the_course_chapters(tmp_path):
    chapter = course.chapter_notebooks()[0]
    elsewhere = tmp_path / chapter.name
    assert course._records(chapter, course.COURSE_RESULTS, quick=False)
    assert not course._records(elsewhere, course.COURSE_RESULTS, quick=False)
    assert not course._records(chapter, course.COURSE_RESULTS, quick=True)
    assert not course._records(chapter, None, quick=False)
    assert course._records(elsewhere, tmp_path / "course.json", quick=False)


def test_swtwo_course_runs_the_chapters_named(tmp_path, fake_kernel, capsys):
    before = course.COURSE_RESULTS.read_bytes() if course.COURSE_RESULTS.exists() else None
    nb = _notebook(tmp_path / "03_named.ipynb", ["x = 3"])
    assert cli.main(["course", str(nb), "--out", str(tmp_path / "build")]) == 0
    assert "[1/1] 03_named.ipynb" in capsys.readouterr().out
    assert (tmp_path / "build" / "summary" / "03_named.md").is_file()
    after = course.COURSE_RESULTS.read_bytes() if course.COURSE_RESULTS.exists() else None
    assert after == before  # a notebook from elsewhere is not a course chapter


@pytest.mark.slow
def test_course_runs_chapters_and_writes_summaries(tmp_path, monkeypatch):
    monkeypatch.setenv("SWTWO_QUICK", "1")  # restored after the test; run() sets it itself
    good = _notebook(tmp_path / "98_good.ipynb", [
        "from swtwo_tf import config\nfrom swtwo_tf.evaluation import record_results",
        "record_results('98_good', {'accuracy': 0.5, 'mode_seen': config.mode_name()})",
        "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass",
    ])
    bad = _notebook(tmp_path / "99_bad.ipynb", ["raise RuntimeError('chapter broke')"])
    out = tmp_path / "build"
    record = tmp_path / "course.json"
    failures = course.run([good, bad], out, quick=False, timeout=120, record=record)
    assert failures == 1
    executed = nbformat.read(out / "notebooks" / "98_good.ipynb", as_version=4)
    assert executed.cells[1].execution_count == 1
    result = json.loads((out / "results" / "98_good.json").read_text())
    assert result["metrics"] == {"accuracy": 0.5, "mode_seen": "full"}
    page = (out / "summary" / "98_good.md").read_text()
    assert "status: passed" in page and "| accuracy | 0.5 |" in page and "mode: full" in page
    slowest = course.slowest_cells(executed)
    assert slowest[0]["cell"] == 3 and slowest[0]["seconds"] >= 0.4
    assert slowest[0]["source"].startswith("import time")
    assert "## Slowest cells" in page and "`import time`" in page
    bad_page = (out / "summary" / "99_bad.md").read_text()
    assert "FAILED" in bad_page and "chapter broke" in bad_page
    index = (out / "summary" / "README.md").read_text()
    assert "98_good" in index and "99_bad" in index
    chapters = json.loads(record.read_text())["chapters"]
    kind = course.config.cpu_kind()
    good_row, bad_row = chapters["98_good"][kind], chapters["99_bad"][kind]
    assert good_row["status"] == "passed" and bad_row["status"] == "failed"
    assert good_row["cpu_seconds"] >= 0.5  # the real kernel's CPU time


@pytest.mark.slow
def test_a_cell_past_the_timeout_is_reported_as_such(tmp_path):
    slow = _notebook(tmp_path / "97_slow.ipynb", ["import time\ntime.sleep(30)"])
    out = tmp_path / "build"
    assert course.run([slow], out, quick=True, timeout=2, record=None) == 1
    page = (out / "summary" / "97_slow.md").read_text()
    assert "ran past the 2 s a cell may take" in page and "--timeout" in page

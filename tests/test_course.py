"""`make course`'s runner: executed notebooks and one summary page per chapter."""

from __future__ import annotations

import json

import nbformat
import pytest

from swtwo_tf import course


def _notebook(path, code_cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 98 A tiny chapter")]
                                  + [nbformat.v4.new_code_cell(c) for c in code_cells])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_course_runs_chapters_and_writes_summaries(tmp_path, monkeypatch):
    monkeypatch.setenv("SWTWO_QUICK", "1")  # restored after the test; run() sets it itself
    good = _notebook(tmp_path / "98_good.ipynb", [
        "from swtwo_tf import config\nfrom swtwo_tf.evaluation import record_results",
        "record_results('98_good', {'accuracy': 0.5, 'mode_seen': config.mode_name()})",
    ])
    bad = _notebook(tmp_path / "99_bad.ipynb", ["raise RuntimeError('chapter broke')"])
    out = tmp_path / "build"
    failures = course.run([good, bad], out, quick=False, timeout=120)
    assert failures == 1
    executed = nbformat.read(out / "notebooks" / "98_good.ipynb", as_version=4)
    assert executed.cells[1].execution_count == 1
    result = json.loads((out / "results" / "98_good.json").read_text())
    assert result["metrics"] == {"accuracy": 0.5, "mode_seen": "full"}
    page = (out / "summary" / "98_good.md").read_text()
    assert "status: passed" in page and "| accuracy | 0.5 |" in page and "mode: full" in page
    bad_page = (out / "summary" / "99_bad.md").read_text()
    assert "FAILED" in bad_page and "chapter broke" in bad_page
    index = (out / "summary" / "README.md").read_text()
    assert "98_good" in index and "99_bad" in index

"""Every chapter is stored clean and follows the notebook conventions of DESIGN.md."""

from __future__ import annotations

import re

import nbformat
import pytest

from swtwo_tf import config
from swtwo_tf.course import chapter_notebooks

NOTEBOOKS = chapter_notebooks(config.REPO_ROOT / "notebooks")
CANONICAL_KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                    "language": "python"}


def test_there_are_chapters():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_welcome_and_setup.ipynb"
    stray = [p.name for p in (config.REPO_ROOT / "notebooks").glob("*.ipynb")
             if p not in NOTEBOOKS]
    assert not stray, f"notebooks must be named NN_topic.ipynb: {stray}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_and_with_canonical_metadata(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert path.read_text(encoding="utf-8") == nbformat.writes(nb) + "\n", (
        f"{path.name} is not laid out as Jupyter writes it (keys sorted): run `make strip`")
    assert nb.metadata == {"kernelspec": CANONICAL_KERNEL, "language_info": {"name": "python"}}
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: outputs stored (run `make strip`)"
            assert cell.execution_count is None, f"{path.name}: execution count stored"
        assert set(cell.metadata) <= {"tags", "jupyter"}, f"{path.name}: {cell.metadata}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_follows_the_chapter_conventions(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name)
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {path.name[:2]}")
    assert "What you will learn" in cells[0].source
    code = [c.source for c in cells if c.cell_type == "code"]
    assert "seed_everything" in code[0], "the setup cell seeds every generator"
    headings = [c.source for c in cells if c.cell_type == "markdown"]
    check = next(i for i, c in enumerate(cells) if c.cell_type == "markdown"
                 and c.source.startswith("## Check your result"))
    assert any("assert " in c.source for c in cells[check:] if c.cell_type == "code")
    assert any(f'record_results("{path.stem}"' in c.source for c in cells[check:]
               if c.cell_type == "code"), \
        "the checks record the chapter's numbers (swtwo course reports them)"
    assert any(h.startswith("## Exercises") and "<details>" in h for h in headings)
    for source in code:
        assert "SWTWO_QUICK" not in source and "quick_mode" not in source, \
            "notebooks never branch on quick mode; the helpers read it"
        assert len(source.splitlines()) <= 15, f"{path.name}: cell over 15 lines:\n{source}"

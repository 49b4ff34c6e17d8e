"""Show, then reuse (DESIGN.md; README "Contributing"): every model a chapter trains is shown
with ``lesson.show`` before the chapter trains it, the compile -> fit path is shown in every
chapter that trains, no notebook defines a second copy of a package builder, and every chapter
has formulas in LaTeX."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from swtwo_tf import lesson, models

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BUILDERS = {recipe.builder.__name__ for recipe in models.RECIPES.values()}


def code_cells(path: Path) -> list[ast.Module]:
    cells = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            source = "\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!")))
            cells.append(ast.parse(source))
    return cells


def _name(node) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _recipe_builder(call: ast.Call) -> str | None:
    """The builder behind ``train_recipe("mnist", "convnet", ...)`` / ``recipe_for(...)``."""
    args = [a.value for a in call.args[:2] if isinstance(a, ast.Constant)]
    if len(args) == 2 and (args[0], args[1]) in models.RECIPES:
        return models.RECIPES[(args[0], args[1])].builder.__name__
    return None


def uses(cells: list[ast.Module]):
    """``(cell index, builder name)`` for each model a notebook builds or trains, and
    ``(cell index, name)`` for each ``show(...)``."""
    trained, shown, fits = [], [], []
    for index, tree in enumerate(cells):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = _name(node.func)
            if called == "show" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Call) and _name(arg.func) == "recipe_for":
                    shown.append((index, _recipe_builder(arg)))
                else:
                    shown.append((index, _name(arg)))
            elif called == "train_recipe":
                builder = _recipe_builder(node)
                if builder:
                    trained.append((index, builder))
                fits.append(index)
            elif called in ("launch", "train") and _recipe_builder(node):  # chapter 11
                trained.append((index, _recipe_builder(node)))
                fits.append(index)
            elif called == "train_private":  # chapter 09: DP-SGD on the tanh CNN
                trained.append((index, "private_cnn"))
                fits.append(index)
            elif called == "compare_variants":
                for kw in node.keywords:
                    if kw.arg == "build":
                        trained.append((index, _name(kw.value)))
                fits.append(index)
            elif called in BUILDERS:
                trained.append((index, called))
            elif called == "fit":
                fits.append(index)
    return trained, shown, fits


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_trained_model_is_shown_first(path):
    trained, shown, _ = uses(code_cells(path))
    first_shown = {}
    for index, name in shown:
        first_shown.setdefault(name, index)
    late = [f"{name} (cell {index})" for index, name in trained
            if first_shown.get(name, 10**6) > index]
    assert not late, (f"{path.name} trains models it never shows before: {late}; add "
                      "lesson.show(<builder>) in a cell above (README 'Contributing')")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_compile_and_fit_are_shown_where_a_chapter_trains(path):
    cells = code_cells(path)
    _, shown, fits = uses(cells)
    if not fits:
        return
    names = {name for _, name in shown}
    wrote_fit = any(isinstance(n, ast.Call) and _name(n.func) == "compile"
                    for tree in cells for n in ast.walk(tree))
    # training.fit_on_features (chapter 10) and training.train_private (chapter 09) are
    # compile -> fit written out in a few lines
    assert (wrote_fit or {"fit", "compile_classifier"} <= names
            or names & {"fit_on_features", "train_private"}), (
        f"{path.name} trains but never shows training.fit and training.compile_classifier "
        "(or training.fit_on_features or train_private, or calls model.compile itself)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_redefines_a_package_builder(path):
    defined = {node.name for tree in code_cells(path) for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef)}
    assert not defined & BUILDERS, f"{path.name} defines {sorted(defined & BUILDERS)} again"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_writes_formulas(path):
    markdown = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                       if c["cell_type"] == "markdown")
    assert re.search(r"\$\$|\\\(", markdown), f"{path.name} has no LaTeX formula"


def test_the_checks_find_what_they_look_for():
    cells = [ast.parse('training.train_recipe("mnist", "convnet")'),
             ast.parse("lesson.show(vision.convnet)"),
             ast.parse("m = vision.seed_cnn()\nmodels.fit(m)"),
             ast.parse('distribute.launch("mnist", "seed_cnn", workers=2)')]
    trained, shown, fits = uses(cells)
    assert trained == [(0, "convnet"), (2, "seed_cnn"), (3, "seed_cnn")]
    assert shown == [(1, "convnet")]
    assert fits == [0, 2, 3]


def test_show_prints_the_source_and_where_it_lives(capsys):
    from swtwo_tf.models import vision

    recipe = models.recipe_for("mnist", "seed_cnn")
    assert lesson.show(recipe, display=False) is recipe
    out = capsys.readouterr().out
    assert "def seed_cnn(" in out and "swtwo_tf/models/vision.py" in out
    assert "%load -s seed_cnn" in out
    assert "# the recipe: seed_cnn(" in out and f"batch {recipe.batch_size}, " in out
    lesson.show(models.recipe_for("digit_strings", "ctc_streaming"), display=False)
    assert "ctc_recognizer(bidirectional=False); batch 32, 20 epochs" in capsys.readouterr().out
    assert lesson.show(vision.convnet, display=False) is vision.convnet
    with pytest.raises(TypeError, match="Python function"):
        lesson.show(len)


def _markdown(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_of_a_chapter_is_in_its_notebook(path):
    from swtwo_tf import exercises

    chapter = path.name[:2]
    text = path.read_text()
    missing = [i for i in exercises.ids(chapter) if f'exercises.check(\\"{i}\\"' not in text]
    assert exercises.ids(chapter) and not missing, (
        f"{path.name} does not run exercises.check for {missing or 'any exercise'}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_cell_asks_for_the_function_its_check_expects(path):
    """The stub a notebook gives the learner is the function the registered check tests:
    ``exercises.check("08.1", min_frames)`` with ``min_frames`` (or ``my_min_frames``) the
    name of the reference solution (``min_frames``, or ``min_frames_solution``)."""
    from swtwo_tf import exercises

    calls = re.findall(r'exercises\.check\(\\"([\d.]+)\\", (\w+)\)', path.read_text())
    assert calls, f"{path.name} checks no exercise"

    def plain(name):
        return name.removeprefix("my_").removesuffix("_solution")

    wrong = [(i, name, exercises.get(i).solution.__name__) for i, name in calls
             if plain(name) != plain(exercises.get(i).solution.__name__)]
    assert not wrong, f"{path.name}: (exercise, stub, what its check tests): {wrong}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_ends_with_a_questionnaire_and_links_the_glossary(path):
    markdown = _markdown(path)
    quiz = next((m for m in markdown if m.lstrip().startswith("## Questionnaire")), None)
    assert quiz, f"{path.name} has no '## Questionnaire' section"
    questions = re.findall(r"^\d+\. ", quiz, flags=re.MULTILINE)
    assert 5 <= len(questions) <= 10, f"{path.name}: {len(questions)} questions, want 5-10"
    assert "glossary.md" in markdown[0], f"{path.name}'s goals cell does not link the glossary"


def test_the_glossary_is_bilingual_and_covers_every_chapter():
    glossary = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"
    rows = [line for line in glossary.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith(("| term |", "|---"))]
    terms, chapters = [], set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 4 and all(cells), f"glossary row needs 4 cells: {row}"
        english, chinese, _, chapter = cells
        assert re.search(r"[\u4e00-\u9fff]", chinese) or chinese.isascii() and chinese, row
        assert re.fullmatch(r"\d\d( \(\d\d(, \d\d)*\))?", chapter), row
        terms.append(english.lower())
        chapters.add(chapter[:2])
    assert len(terms) == len(set(terms)), "a term is listed twice"
    assert {p.name[:2] for p in NOTEBOOKS} <= chapters
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", r)) for r in rows) > 0.9 * len(rows)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_formula_is_checked_by_the_cell_after_it(path):
    """A display formula is followed by a code cell asserting it against Keras/TF; in an
    exercise the learner's answer is checked by ``exercises.check`` instead."""
    cells = json.loads(path.read_text())["cells"]
    unchecked = []
    for index, cell in enumerate(cells):
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown" or "$$" not in text:
            continue
        following = ["".join(c["source"]) for c in cells[index + 1:index + 3]
                     if c["cell_type"] == "code"]
        checker = "exercises.check(" if text.lstrip().startswith("### Exercise") else "assert"
        if not any(checker in source for source in following):
            unchecked.append(f"cell {index}: {text.strip().splitlines()[0][:60]}")
    assert not unchecked, f"{path.name}: formulas with no check after them: {unchecked}"

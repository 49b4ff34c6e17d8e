"""The course as a whole: chapter 00's environment check, and running the chapters headless
with a one-page summary of each (``make course``; ``swtwo course notebooks/03_*.ipynb`` runs
only the chapters named).

Each notebook is executed with nbclient in a fresh kernel of this environment. The executed
copy goes to ``<out>/notebooks/``, and ``<out>/summary/<chapter>.md`` gathers its status, run
time and the numbers the chapter recorded with :func:`swtwo_tf.evaluation.record_results`.
A chapter that fails is reported and the run goes on with the next one.

A full-mode run also records each chapter's status, wall time, the kernel's CPU time, the date
and the CPU (model, AVX-512 or not) in ``benchmarks/results/course.json``, merged per chapter:
running one chapter replaces only its own entry. These are the reference times
``docs/results.md`` shows (``benchmarks/results_page.py``). Quick-mode runs record nothing,
so a test run never overwrites them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.files import atomic_write

#: Where full-mode runs record each chapter's time (shown by ``docs/results.md``).
COURSE_RESULTS = config.REPO_ROOT / "benchmarks" / "results" / "course.json"


def environment_report() -> str:
    """Versions, hardware, mode and datasets in one text block (``swtwo env``)."""
    from swtwo_tf.datasets import format_status, status

    env = config.environment()
    gpus = ", ".join(env["gpus"]) or "none (CPU only: every chapter is sized for this)"
    return "\n".join([
        f"Python {env['python']} | TensorFlow {env['tensorflow']} | Keras {env['keras']} | "
        f"TFDS {env['tensorflow_datasets']} | NumPy {env['numpy']}",
        f"Machine: {env['platform']}, {env['cpu_cores']} CPU cores ({env['cpu_model']}, "
        f"AVX-512: {_yes_no(env['avx512'])}), GPU: {gpus}",
        f"Mode: {env['mode']}"
        + (" (SWTWO_QUICK=1: short runs for tests)" if env["mode"] == "quick" else
           " (chapters train to their stated accuracy)"),
        "",
        format_status(status()),
    ])


def _yes_no(flag: bool | None) -> str:
    return "unknown" if flag is None else "yes" if flag else "no"


def check_environment() -> None:
    """Print :func:`environment_report` (chapter 00's setup cell)."""
    print(environment_report())


def chapter_notebooks(folder: Path | None = None) -> list[Path]:
    """The course's chapters, ``NN_topic.ipynb``, in order."""
    folder = folder or config.REPO_ROOT / "notebooks"
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "(untitled)"


def _first_error(nb) -> str | None:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index + 1}: {output.get('ename')}: {output.get('evalue')}"
    return None


def slowest_cells(nb, n: int = 3) -> list[dict]:
    """The ``n`` code cells of an executed notebook that took longest, slowest first: each
    ``{"cell": number among the code cells (1-based), "id", "seconds", "source": first line}``.

    Read from the execution timestamps nbclient writes into each cell's metadata
    (``iopub.execute_input`` to ``shell.execute_reply``), so it works on any notebook that
    ``run`` executed; cells without them (not run) are left out.
    """
    from datetime import datetime

    rows = []
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for number, cell in enumerate(code_cells, 1):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
            continue
        began, ended = (datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                        for key in ("iopub.execute_input", "shell.execute_reply"))
        source = "".join(cell["source"]).strip().splitlines()
        rows.append({"cell": number, "id": cell.get("id"),
                     "seconds": round((ended - began).total_seconds(), 1),
                     "source": source[0][:80] if source else ""})
    return sorted(rows, key=lambda row: -row["seconds"])[:n]


def record_chapters(entries: dict[str, dict], path: str | os.PathLike = COURSE_RESULTS) -> Path:
    """Merge ``{chapter: entry}`` into the course report at ``path`` and write it atomically.

    The report holds ``{chapter: {CPU kind: entry}}`` (:func:`entry_kind`): a run on an
    AVX2 CPU replaces only that chapter's AVX2 entry, so both kinds' times stay side by side.
    Chapters and kinds not in ``entries`` keep their earlier entry; keys are sorted, so the
    file only changes where a time did. Returns ``path``.
    """
    path = Path(path)
    chapters = chapter_entries(json.loads(path.read_text())) if path.is_file() else {}
    for name, entry in entries.items():
        chapters.setdefault(name, {})[entry_kind(entry)] = entry
    report = {"command": "swtwo course (make course)", "chapters": chapters}
    return atomic_write(path, json.dumps(report, indent=2, sort_keys=True) + "\n")


def entry_kind(entry: dict) -> str:
    """The CPU kind (``config.cpu_kind``) of one chapter's entry; ``"not recorded"``
    when it names neither the CPU's flags nor AVX-512."""
    if "cpu_flags" in entry:
        return config.cpu_kind(entry["cpu_flags"])
    if entry.get("avx512") is not None:  # entries recorded before cpu_flags
        return "AVX-512" if entry["avx512"] else "AVX2"
    return "not recorded"


def chapter_entries(report: dict) -> dict[str, dict[str, dict]]:
    """``{chapter: {CPU kind: entry}}`` of a course report; an entry written before the
    report kept kinds apart (one flat entry per chapter) is filed under its own kind."""
    return {name: ({entry_kind(value): value} if "status" in value else dict(value))
            for name, value in report.get("chapters", {}).items()}


def _records(path: Path, record, quick: bool) -> bool:
    """Whether this run records ``path``'s time in ``record`` (see :func:`run`)."""
    if record is None or quick:
        return False
    chapters = (config.REPO_ROOT / "notebooks").resolve()
    return Path(record) != COURSE_RESULTS or path.resolve().parent == chapters


def _summary(path: Path, title: str, status: str, seconds: float, executed: Path,
             results: dict | None, cpu_seconds: float | None = None) -> str:
    import nbformat

    cpu = "" if cpu_seconds is None else f" ({cpu_seconds:.0f} CPU s in the kernel)"
    lines = [f"# {title}", "", f"- notebook: {path.name}",
             f"- status: {status}",
             f"- mode: {config.mode_name()}; run time {seconds:.0f} s{cpu} on {os.cpu_count()} "
             f"CPU cores ({config.cpu_info()['cpu_model']}); finished "
             f"{time.strftime('%Y-%m-%d %H:%M')}",
             f"- executed notebook: {executed}", ""]
    if results:
        lines += ["## Results", "", "| metric | value |", "|---|---|"]
        for key, value in results["metrics"].items():
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"| {key} | {shown} |")
        if results.get("notes"):
            lines += ["", results["notes"]]
    else:
        lines.append("No results were recorded (the chapter did not reach record_results).")
    slow = slowest_cells(nbformat.read(executed, as_version=4)) if executed.exists() else []
    if slow:
        lines += ["", "## Slowest cells", "", "| code cell | seconds | first line |",
                  "|---|---|---|"]
        lines += [f"| {row['cell']} | {row['seconds']:.1f} | `{row['source']}` |"
                  for row in slow]
    return "\n".join(lines) + "\n"


#: Seconds one cell may run before ``run`` interrupts it: a guard against a hung kernel, set
#: above the longest full-mode cell (chapter 07's architecture table trains four networks, over
#: an hour on a 2-core AVX-512 CPU and longer on AVX2).
CELL_TIMEOUT = 4 * 3600


def run(notebooks: list[Path], out: Path, *, quick: bool = False, timeout: int = CELL_TIMEOUT,
        record: str | os.PathLike | None = COURSE_RESULTS) -> int:
    """Execute ``notebooks`` into ``out``; returns the number of chapters that failed.

    In full mode each chapter's time is merged into ``record`` as soon as it finishes. The
    default, :data:`COURSE_RESULTS`, takes only the course's own chapters (``notebooks/``), not
    a notebook from elsewhere; ``record=None`` or ``quick=True`` records nothing.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    os.environ[config.QUICK_ENV] = "1" if quick else "0"
    os.environ["SWTWO_BUILD_DIR"] = str(out.resolve())
    # The kernel must be this environment's Python, even if the user has another "python3".
    venv_share = str(Path(sys.prefix) / "share" / "jupyter")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (venv_share, os.environ.get("JUPYTER_PATH")) if p)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    (out / "summary").mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(parents=True, exist_ok=True)
    failures, index_lines = 0, []
    for number, path in enumerate(notebooks, 1):
        stale = out / "results" / f"{path.stem}.json"
        stale.unlink(missing_ok=True)
        nb = nbformat.read(path, as_version=4)
        title = _title(nb)
        print(f"[{number}/{len(notebooks)}] {path.name}: {title} ({config.mode_name()} mode)",
              flush=True)
        cells = sum(c.cell_type == "code" for c in nb.cells)
        done = {"n": 0}

        def progress(cell, cell_index, execute_reply, done=done, cells=cells):
            done["n"] += 1
            print(f"    cell {done['n']}/{cells} done", flush=True)

        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", on_cell_executed=progress,
            resources={"metadata": {"path": str(path.parent)}})
        start, cpu_start = time.perf_counter(), config.children_cpu_seconds()
        try:
            client.execute()
            status = "passed"
        except CellTimeoutError:  # nbclient interrupted the kernel: say so, not "KeyboardInterrupt"
            failures += 1
            where = (_first_error(nb) or "a cell").split(":")[0]
            status = (f"FAILED ({where} ran past the {timeout} s a cell may take; "
                      "swtwo course --timeout SECONDS allows more)")
        except CellExecutionError as exc:
            failures += 1
            status = f"FAILED ({_first_error(nb) or str(exc).splitlines()[0]})"
        seconds = time.perf_counter() - start
        cpu_seconds = config.children_cpu_seconds() - cpu_start
        if _records(path, record, quick):
            record_chapters({path.stem: {
                "title": title, "status": "passed" if status == "passed" else "failed",
                "wall_seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
                "mode": config.mode_name(), "date": time.strftime("%Y-%m-%d"),
                "cpu_cores": os.cpu_count(), **config.cpu_info()}}, record)
        executed = out / "notebooks" / path.name
        atomic_write(executed, nbformat.writes(nb))
        results = json.loads(stale.read_text()) if stale.exists() else None
        page = out / "summary" / f"{path.stem}.md"
        atomic_write(page, _summary(path, title, status, seconds, executed, results,
                                    cpu_seconds))
        print(f"    {status} in {seconds:.0f} s ({cpu_seconds:.0f} CPU s) -> {page}", flush=True)
        index_lines.append(f"| [{path.stem}]({path.stem}.md) | {title} | {status} | "
                           f"{seconds:.0f} s | {cpu_seconds:.0f} s |")
    index = out / "summary" / "README.md"
    atomic_write(index, "# Course run\n\n| chapter | title | status | time | CPU time |\n"
                        "|---|---|---|---|---|\n" + "\n".join(index_lines) + "\n")
    if any(_records(path, record, quick) for path in notebooks):
        print(f"Chapter times: {record} (docs/results.md: "
              f".venv/bin/python benchmarks/results_page.py)")
    print(f"Summary: {index}  ({len(notebooks) - failures} passed, {failures} failed)")
    return failures

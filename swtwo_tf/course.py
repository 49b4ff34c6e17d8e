"""The course as a whole: chapter 00's environment check, and running the chapters headless
with a one-page summary of each (``make course``).

Each notebook is executed with nbclient in a fresh kernel of this environment. The executed
copy goes to ``<out>/notebooks/``, and ``<out>/summary/<chapter>.md`` gathers its status, run
time and the numbers the chapter recorded with :func:`swtwo_tf.evaluation.record_results`.
A chapter that fails is reported and the run goes on with the next one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.files import atomic_write


def environment_report() -> str:
    """Versions, hardware, mode and datasets in one text block (``swtwo env``)."""
    from swtwo_tf.datasets import format_status, status

    env = config.environment()
    gpus = ", ".join(env["gpus"]) or "none (CPU only: every chapter is sized for this)"
    return "\n".join([
        f"Python {env['python']} | TensorFlow {env['tensorflow']} | Keras {env['keras']} | "
        f"TFDS {env['tensorflow_datasets']} | NumPy {env['numpy']}",
        f"Machine: {env['platform']}, {env['cpu_cores']} CPU cores, GPU: {gpus}",
        f"Mode: {env['mode']}"
        + (" (SWTWO_QUICK=1: short runs for tests)" if env["mode"] == "quick" else
           " (chapters train to their stated accuracy)"),
        "",
        format_status(status()),
    ])


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


def _summary(path: Path, title: str, status: str, seconds: float, executed: Path,
             results: dict | None) -> str:
    lines = [f"# {title}", "", f"- notebook: {path.name}",
             f"- status: {status}",
             f"- mode: {config.mode_name()}; run time {seconds:.0f} s on {os.cpu_count()} CPU "
             f"cores; finished {time.strftime('%Y-%m-%d %H:%M')}",
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
    return "\n".join(lines) + "\n"


def run(notebooks: list[Path], out: Path, *, quick: bool = False, timeout: int = 3600) -> int:
    """Execute ``notebooks`` into ``out``; returns the number of chapters that failed."""
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
        start = time.perf_counter()
        try:
            client.execute()
            status = "passed"
        except (CellExecutionError, CellTimeoutError) as exc:
            failures += 1
            status = f"FAILED ({_first_error(nb) or str(exc).splitlines()[0]})"
        seconds = time.perf_counter() - start
        executed = out / "notebooks" / path.name
        atomic_write(executed, nbformat.writes(nb))
        results = json.loads(stale.read_text()) if stale.exists() else None
        page = out / "summary" / f"{path.stem}.md"
        atomic_write(page, _summary(path, title, status, seconds, executed, results))
        print(f"    {status} in {seconds:.0f} s -> {page}", flush=True)
        index_lines.append(f"| [{path.stem}]({path.stem}.md) | {title} | {status} | "
                           f"{seconds:.0f} s |")
    index = out / "summary" / "README.md"
    atomic_write(index, "# Course run\n\n| chapter | title | status | time |\n|---|---|---|---|\n"
                     + "\n".join(index_lines) + "\n")
    print(f"Summary: {index}  ({len(notebooks) - failures} passed, {failures} failed)")
    return failures

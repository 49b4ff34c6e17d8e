"""Quick-mode time of every chapter notebook, each run alone, against the DESIGN.md budgets.

Usage: .venv/bin/python benchmarks/quick_mode.py [--only 05_text_classification] [--out FILE]

Each notebook runs as ``swtwo course --quick`` runs it (a fresh kernel, ``SWTWO_QUICK=1``,
outputs into a temporary folder), one after the other, so no two share the cores. A row
records the notebook's wall time, its kernel's CPU time, its three slowest code cells
(``course.slowest_cells``) and the budget of this CPU kind:
90 s with AVX-512, 3 min without (most laptops). ~20 min on a 2-core AVX2 CPU.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, hold_lock, write_report

from swtwo_tf import config, course, tables

#: DESIGN.md's quick-mode budget per notebook, by whether the CPU has AVX-512.
BUDGET_SECONDS = {True: 90.0, False: 180.0}


def measure(notebook: Path, out: Path) -> dict:
    """Run one notebook in quick mode; its row (a failed notebook is recorded, not hidden)."""
    start, cpu_start = time.perf_counter(), config.children_cpu_seconds()
    failures = course.run([notebook], out, quick=True, record=None)
    seconds, cpu_seconds = time.perf_counter() - start, config.children_cpu_seconds() - cpu_start
    budget = BUDGET_SECONDS[bool(config.cpu_info()["avx512"])]
    executed = json.loads((out / "notebooks" / notebook.name).read_text())
    return {"notebook": notebook.stem, "status": "failed" if failures else "passed",
            "wall_seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
            "budget_seconds": budget, "within_budget": seconds <= budget,
            "slowest_cells": course.slowest_cells(executed)}


def main() -> int:
    import argparse

    notebooks = course.chapter_notebooks()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=[p.stem for p in notebooks],
                        help="measure only this notebook")
    parser.add_argument("--out", default=str(RESULTS / "quick_mode.json"))
    args = parser.parse_args()
    hold_lock()
    chosen = [p for p in notebooks if args.only in (None, p.stem)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="swtwo_quick_") as tmp:
        for notebook in chosen:
            rows.append(measure(notebook, Path(tmp)))
            print(f"-> {notebook.stem}: {rows[-1]['wall_seconds']:.0f} s "
                  f"({rows[-1]['cpu_seconds']:.0f} CPU s), budget "
                  f"{rows[-1]['budget_seconds']:.0f} s; slowest cells: " + ", ".join(
                      f"{c['cell']} ({c['seconds']:.0f} s)" for c in rows[-1]["slowest_cells"]),
                  flush=True)
    print("\n" + tables.format_table(
        ["notebook", "status", "wall time", "CPU time", "budget", "within"],
        [[r["notebook"], r["status"], f"{r['wall_seconds']:.0f} s", f"{r['cpu_seconds']:.0f} s",
          f"{r['budget_seconds']:.0f} s", "yes" if r["within_budget"] else "NO"]
         for r in rows], align="llrrrl"))
    command = "python benchmarks/quick_mode.py" + (f" --only {args.only}" if args.only else "")
    write_report(rows, command, args.out)
    return int(any(r["status"] == "failed" for r in rows))


if __name__ == "__main__":
    sys.exit(main())

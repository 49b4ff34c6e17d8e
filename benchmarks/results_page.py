"""Render every ``benchmarks/results/*.json`` report into ``docs/results.md``.

    .venv/bin/python benchmarks/results_page.py           # rewrite docs/results.md
    .venv/bin/python benchmarks/results_page.py --check   # exit 1 if it is out of date

The JSON reports are the single source of every number the kit states; this page only
formats them, so it is regenerated (never edited) after a benchmark or a ``make course`` run.
Each benchmark report becomes one section: the command(s) and date(s) that measured it, the
machine (cores, CPU model and features, GPUs), TensorFlow's version and one table row per
result. ``course.json`` (written by ``make course``) becomes the "Chapters in full mode"
table. The output depends only on the reports: keys are sorted and floats have fixed formats.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from swtwo_tf import config  # noqa: E402
from swtwo_tf.course import chapter_entries  # noqa: E402
from swtwo_tf.files import atomic_write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "results.md"
COMMAND = ".venv/bin/python benchmarks/results_page.py"

#: Columns every result table starts with, in this order, when any row has them.
MAIN_COLUMNS = ("notebook", "dataset", "model", "split", "part", "cpu_kind", "ms_per_step",
                "share", "epoch_seconds", "test_accuracy", "as_recorded_accuracy", "der",
                "beam_der", "string_accuracy", "epochs",
                "train_seconds", "train_cpu_seconds", "parameters", "status", "wall_seconds",
                "cpu_seconds", "budget_seconds", "within_budget")
HEADINGS = {"test_accuracy": "test accuracy", "train_seconds": "train wall time",
            "train_cpu_seconds": "train CPU time", "batch_size": "batch",
            "wall_seconds": "wall time", "cpu_seconds": "CPU time", "cpu_model": "CPU model",
            "avx512": "AVX-512", "cpu_kind": "CPU kind", "budget_seconds": "budget",
            "within_budget": "within budget", "ms_per_step": "ms per step",
            "share": "share of the step", "epoch_seconds": "per full epoch",
            "der": "digit error rate", "beam_der": "beam: digit error rate",
            "string_accuracy": "strings exact", "stream_der": "streamed: digit error rate",
            "real_time_factor": "real-time factor", "as_recorded_accuracy": "as recorded",
            "speaker_gap": "best - worst speaker"}
#: Stamped on every row; shown in the section header instead of a column.
STAMPS = ("command", "date")
#: A report's table with more columns than this, whose datasets were measured in different
#: ways, is split into one table per dataset.
WIDEST = 16
#: Kept in the JSON but too long for a table cell (chapters 09 and 10's accuracy curves,
#: chapter 04's accuracy per digit).
HIDDEN = ("curves", "severities", "pgd20_curve", "deletion_accuracy", "deletion_fractions",
          "per_digit")
#: Sections' titles, in the page's (the chapters') order; a report not named here comes
#: after them, titled by its file name.
TITLES = {"images": "Images (chapters 01-02)", "speech": "Spoken digits (chapter 04)",
          "speech_unseen": "Spoken digits: unseen voices (chapter 04)",
          "text": "IMDB reviews (chapter 05)", "deploy": "Deployment (chapter 06)",
          "modern_cnns": "Modern CNNs, transfer learning, few labels, distillation (chapter 07)",
          "speech_ctc": "Connected digit strings: CTC, beam search, streaming (chapter 08)",
          "trust": "Trustworthy models: explanations, attacks, privacy (chapter 09)",
          "multimodal": "A digit seen and heard: fusion and retrieval (chapter 10)",
          "multimodal_scratch": "A digit seen and heard: retrieval learned from the pairs alone "
          "(chapter 10)",
          "distributed": "Several workers: the MNIST recipe with tf.distribute (chapter 11)",
          "quick_mode": "Quick mode: each chapter alone (budget: 90 s with AVX-512, 3 min without)",
          "profile": "Where a training step's time goes (image and speech recipes)"}


def _cell(key: str, value) -> str:
    """One table cell, in a fixed format for each kind of value."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if (key.startswith(("accuracy", "recall")) or key.endswith(("accuracy", "_gap"))
            or key == "share") \
            and isinstance(value, int | float):
        return f"{value * 100:.2f} %"
    if key.endswith("seconds") and isinstance(value, int | float):
        if value < 10:
            return f"{value:.2f} s"
        return f"{value:.1f} s" if value < 60 else f"{value:.1f} s ({value / 60:.1f} min)"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3f}"
    if key == "slowest_cells" and isinstance(value, list):  # course.slowest_cells' rows
        return ", ".join(f"cell {c['cell']} ({c['seconds']:.0f} s)" for c in value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):  # a few named numbers (chapter 09's rank correlations)
        return ", ".join(f"{k} {_cell(key, v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def _heading(key: str) -> str:
    return HEADINGS.get(key, key.replace("_", " "))


def _table(keys: list[str], rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(_heading(k) for k in keys) + " |",
             "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(_cell(k, row.get(k)) for k in keys) + " |" for row in rows]
    return lines


def _machine(machine: dict) -> str:
    parts = [f"{machine.get('cpu_cores', '?')} CPU cores"]
    if machine.get("cpu_model"):
        parts.append(f"CPU {machine['cpu_model']}")
    if "cpu_flags" in machine:
        parts.append("features " + (", ".join(machine["cpu_flags"]) or "none of note"))
    else:
        parts.append("CPU model and features not recorded")
    gpus = machine.get("gpus")
    parts.append("no GPU" if not gpus else f"GPUs: {gpus}")
    if machine.get("platform"):
        parts.append(machine["platform"])
    return "; ".join(parts)


def _distinct(report: dict, key: str) -> list[str]:
    values = {str(report[key])} if report.get(key) else set()
    values |= {str(r[key]) for r in report.get("results", []) if r.get(key)}
    return sorted(values)


def _by_kind(report: dict) -> tuple[dict, list[dict]]:
    """``({CPU kind: machine}, rows)`` of a report, each row stamped with its kind, the rows
    of one (dataset, model, split) side by side. A report written before reports kept kinds
    apart has one ``machine`` and rows without a kind: they are all of that machine's."""
    machine = report.get("machine", {})
    if "machines" in report:
        machines = report["machines"]
    else:
        machines = {config.machine_kind(machine): {**machine,
                                                   "tensorflow": report.get("tensorflow")}}
    only = next(iter(machines))
    rows = [{"cpu_kind": only, **row} for row in report.get("results", [])]
    first = {}
    for row in rows:
        first.setdefault(_what(row), len(first))
    return machines, sorted(rows, key=lambda row: (first[_what(row)], row["cpu_kind"]))


def _what(row: dict) -> tuple:
    return tuple(row.get(k) for k in ("notebook", "dataset", "model", "split"))


def render_report(name: str, report: dict) -> str:
    """One benchmark report (``benchmarks/results/<name>.json``) as a Markdown section; where
    both CPU kinds were measured, each kind's machine is named and its rows sit beside the
    other kind's."""
    machines, rows = _by_kind(report)
    present = {k for row in rows for k in row}
    commands = ", ".join(f"`{c}`" for c in _distinct(report, "command")) or "-"
    versions = sorted({str(m.get("tensorflow") or report.get("tensorflow", "-"))
                       for m in machines.values()})
    lines = [f"## {TITLES.get(name, name)}", "",
             f"From [`benchmarks/results/{name}.json`](../benchmarks/results/{name}.json).", "",
             f"- command{'s' if len(_distinct(report, 'command')) > 1 else ''}: {commands}",
             f"- date: {', '.join(_distinct(report, 'date')) or '-'}",
             f"- mode: {report.get('mode', '-')}"]
    lines += [f"- machine ({kind}): {_machine(machine)}" for kind, machine in machines.items()]
    lines += [f"- TensorFlow {', '.join(versions)}"]
    if present & set(HIDDEN):
        lines.append(f"- per-row {' and '.join(sorted(present & set(HIDDEN)))}: in the JSON")
    lines.append("")
    groups = {}
    for row in rows:
        groups.setdefault(row.get("dataset"), []).append(row)
    columns = {dataset: _columns(found) for dataset, found in groups.items()}
    split = len(groups) > 1 and len(_columns(rows)) > WIDEST and len(
        {tuple(c) for c in columns.values()}) > 1
    extra = ["command"] if len(_distinct(report, "command")) > 1 else []
    if not rows:
        lines.append("(no results)")
    elif not split:
        lines += _table(_columns(rows) + extra, rows)
    else:  # datasets measured in different ways: a table each, with its own columns
        for dataset, found in groups.items():
            lines += [f"### {dataset}", ""] + _table(columns[dataset] + extra, found) + [""]
        lines.pop()
    return "\n".join(lines) + "\n"


def _columns(rows: list[dict]) -> list[str]:
    present = {k for row in rows for k in row}
    keys = [k for k in MAIN_COLUMNS if k in present]
    return keys + sorted(present - set(keys) - set(STAMPS) - set(HIDDEN))


def render_course(course: dict, chapters_dir: Path) -> str:
    """``course.json`` (one entry per chapter and CPU kind, written by ``make course``) as a
    table, the kinds of a chapter side by side; the notebooks of ``chapters_dir`` that it
    lacks are named below it."""
    chapters = chapter_entries(course)
    keys = ["chapter", "cpu_kind", "status", "wall_seconds", "cpu_seconds", "cpu_model",
            "mode", "date"]
    lines = ["## Chapters in full mode", "",
             "From [`benchmarks/results/course.json`](../benchmarks/results/course.json), "
             "written by `make course` (`swtwo course`; one chapter: "
             "`swtwo course notebooks/NN_topic.ipynb`). Wall time is the whole notebook; CPU "
             "time is its kernel process's, all cores together.", ""]
    lines += _table(keys, [{"chapter": name, "cpu_kind": kind, **entries[kind]}
                           for name, entries in sorted(chapters.items())
                           for kind in sorted(entries)])
    missing = sorted(p.stem for p in Path(chapters_dir).glob("[0-9][0-9]_*.ipynb")
                     if p.stem not in chapters)
    if missing:  # say which chapters have no full-mode time yet, rather than leave a gap
        lines += ["", "Not run in full mode yet: " + ", ".join(f"`{m}`" for m in missing)
                  + " (`swtwo course notebooks/<chapter>.ipynb` records one)."]
    return "\n".join(lines) + "\n"


def render(results: Path = RESULTS) -> str:
    """The whole page, from every ``*.json`` report in ``results`` (``benchmarks/results``
    of a checkout, whose ``notebooks/`` are the chapters)."""
    reports = {p.stem: json.loads(p.read_text()) for p in sorted(Path(results).glob("*.json"))}
    course = reports.pop("course", None)
    parts = ["# Results",
             "",
             f"<!-- Generated by `{COMMAND}` from benchmarks/results/*.json: do not edit. -->",
             f"Generated by `{COMMAND}` from `benchmarks/results/*.json`; do not edit by hand: "
             "rerun the benchmark (or `make course`), then this command. What was tried on the "
             "way to these recipes is in [experiments.md](experiments.md).",
             ""]
    if course is not None:
        parts.append(render_course(course, Path(results).resolve().parents[1] / "notebooks"))
    rank = {name: index for index, name in enumerate(TITLES)}
    order = sorted(reports, key=lambda name: (rank.get(name, len(rank)), name))
    parts += [render_report(name, reports[name]) for name in order]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the page differs from what the reports give")
    parser.add_argument("--results", default=str(RESULTS), help="folder of the JSON reports")
    parser.add_argument("--out", default=str(PAGE), help="the page to write or check")
    args = parser.parse_args(argv)
    text, out = render(Path(args.results)), Path(args.out)
    if args.check:
        if not out.is_file() or out.read_text() != text:
            print(f"{out} is out of date with {args.results}: run {COMMAND}", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    atomic_write(out, text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

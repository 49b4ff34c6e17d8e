"""What every benchmark script shares: train recipes, print the table, write the JSON report.

Used by ``benchmarks/images.py``, ``speech.py`` and ``text.py``; each run trains a recipe with
``swtwo_tf.training.train_recipe`` (exactly what the chapters run) on the real data and
evaluates it once on the test split.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from swtwo_tf import config, files, tables, training

RESULTS = Path(__file__).resolve().parent / "results"


def run(dataset: str, model_name: str, recipe) -> dict:
    """Train one recipe and measure it; returns the table row."""
    return train(dataset, model_name, recipe)[0]


def train(dataset: str, model_name: str, recipe, **options) -> tuple:
    """Train one recipe and measure it: ``(row, model, data)``. Refuses the offline sample.

    ``options`` go to ``train_recipe`` (``split=`` and ``recordings=`` for spoken digits);
    a ``split`` is recorded in the row.
    """
    split = options.get("split")
    print(f"\n== {dataset} / {model_name}{f' / {split}' if split else ''}: up to "
          f"{recipe.epochs} epochs, batch {recipe.batch_size}", flush=True)
    model, history, data = training.train_recipe(dataset, model_name, **options)
    if data.source != "tfds":
        raise SystemExit(f"{dataset}: the real dataset is needed "
                         f"(swtwo datasets download {dataset})")
    _, accuracy = model.evaluate(data.test, verbose=0)
    row = {"dataset": dataset, "model": model_name, **({"split": split} if split else {}),
           "test_accuracy": round(float(accuracy), 4),
           "train_seconds": round(history.seconds, 1),
           "train_cpu_seconds": round(history.cpu_seconds, 1),
           "epochs": len(history.history["loss"]),
           "batch_size": recipe.batch_size, "parameters": model.count_params()}
    print(f"-> {row['test_accuracy']:.2%} test accuracy, {row['train_seconds'] / 60:.1f} min "
          f"({row['train_cpu_seconds'] / 60:.1f} CPU min)", flush=True)
    return row, model, data


def print_table(rows: list[dict]) -> None:
    print("\n" + tables.format_table(
        ["dataset", "model", "test acc", "train time", "CPU time", "epochs", "params"],
        [[r["dataset"], r["model"], f"{r['test_accuracy']:.2%}",
          f"{r['train_seconds'] / 60:.1f} min",
          f"{r['train_cpu_seconds'] / 60:.1f} min" if "train_cpu_seconds" in r else None,
          r["epochs"], f"{r['parameters']:,}"] for r in rows], align="llrrrrr"))


def write_report(rows: list[dict], command: str, out: str | os.PathLike) -> Path:
    """Merge the rows into the JSON report at ``out`` and write it atomically.

    Each row is stamped with the command and date that measured it and with its CPU kind
    (``config.cpu_kind``: AVX-512 or AVX2), and ``machines`` maps each kind to the machine
    that measured its rows: a row never mixes kinds, and the results page shows the kinds
    side by side. Rows of the same (dataset, model, split) measured before on this kind are
    replaced; other rows of this kind stay if they were measured on this machine and
    TensorFlow (so ``--only`` re-measures one dataset), else the kind's rows are replaced
    whole. Rows of the other kind stay, if they came from a machine with as many cores.
    """
    import tensorflow as tf

    machine = {"cpu_cores": os.cpu_count(), "platform": platform.platform(terse=True),
               "processor": platform.processor() or platform.machine(), **cpu(),
               "gpus": len(tf.config.list_physical_devices("GPU")),
               "tensorflow": tf.__version__}
    kind = config.machine_kind(machine)
    date = time.strftime("%Y-%m-%d")
    rows = [{**row, "command": command, "date": date, "cpu_kind": kind} for row in rows]
    out = Path(out)
    kept, machines = [], {kind: machine}
    if out.is_file():
        old = json.loads(out.read_text())
        old_machines = machines_of(old)
        fresh = {_key(r) for r in rows}
        for row in old["results"]:
            row = {"command": old["command"], "date": old["date"],
                   "cpu_kind": config.machine_kind(old["machine"]), **row}
            theirs = old_machines.get(row["cpu_kind"], {})
            if row["cpu_kind"] == kind:
                keep = same_machine(theirs, machine) and _key(row) not in fresh
            else:
                keep = (row["cpu_kind"] in ("AVX-512", "AVX2")
                        and theirs.get("cpu_cores") == machine["cpu_cores"])
            if keep:
                kept.append(row)
                machines[row["cpu_kind"]] = theirs
    report = {"command": command, "date": date, "mode": config.mode_name(),
              "machine": machine, "machines": dict(sorted(machines.items())),
              "tensorflow": tf.__version__, "results": kept + rows}
    files.write_json(out, report)
    print(f"\nwritten: {out}")
    return out


def same_machine(a: dict, b: dict) -> bool:
    """Whether two reports' machines are one: the same processor, flags, cores, GPUs and
    TensorFlow. The platform string is left out: it names the VM's kernel build, which the
    cloud changes between days under the same processor."""
    def identity(machine):
        return {k: v for k, v in machine.items() if k != "platform"}
    return identity(a) == identity(b)


def machines_of(report: dict) -> dict:
    """``{CPU kind: machine}`` of a report (one written before reports kept kinds apart has
    only ``machine``, with TensorFlow's version beside it)."""
    if "machines" in report:
        return report["machines"]
    machine = {**report["machine"], "tensorflow": report.get("tensorflow")}
    return {config.machine_kind(machine): machine}


def cpu() -> dict:
    """The CPU's model name and which of ``config.CPU_FLAGS`` it has (``config.cpu_info``).

    A cloud VM can land on another processor from one day to the next, with the same core
    count: a report records which one measured it, and rows are only merged within one.
    """
    info = config.cpu_info()
    return {"cpu_model": info["cpu_model"], "cpu_flags": info["cpu_flags"]}


def _key(row: dict) -> tuple:
    """What a row measures: (dataset, model, split, part of a profile), or the notebook for a
    chapter's row."""
    return (row.get("dataset"), row.get("model"), row.get("split"), row.get("part"),
            row.get("notebook"))


def parse_args(script: str, description: str, choices: list[str], add_arguments=None):
    """``--only CHOICE`` (when there are ``choices``) and ``--out FILE`` (default
    ``benchmarks/results/<script>.json``); ``add_arguments(parser)`` adds a script's own."""
    import argparse

    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if choices:
        parser.add_argument("--only", choices=choices, help="run only this part")
    parser.add_argument("--out", default=str(RESULTS / f"{script}.json"))
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    hold_lock()
    if config.quick_mode():
        print("SWTWO_QUICK is set: these numbers are quick-mode numbers, not the benchmark.")
    return args


#: Held while a benchmark runs; see :func:`hold_lock`.
LOCK = RESULTS / ".benchmark.lock"
_held = []


def hold_lock(path: str | os.PathLike = LOCK) -> None:
    """Refuse to start while another benchmark runs on this machine.

    Two benchmarks at once share the 2 cores, so each one's timings would be wrong, and the
    second to finish would merge its rows over the first's report. The lock is an exclusive
    ``flock`` on ``path``, held until the process exits (the kernel releases it even after a
    crash or Ctrl-C).
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115  (kept open: closing it releases the lock)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise SystemExit(f"{path}: another benchmark is running ({holder}); two at once on "
                         "this machine's cores would spoil both one's timings; wait for it "
                         "to finish") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    _held.append(handle)


def finish(rows: list[dict], script: str, args) -> int:
    """Print the table and write the report, naming the command that made it."""
    print_table(rows)
    command = f"python benchmarks/{script}.py" + (f" --only {args.only}" if args.only else "")
    write_report(rows, command, args.out)
    return 0

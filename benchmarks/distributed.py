"""Multi-worker benchmark behind chapter 11 and docs/results.md: the MNIST recipe on 1-3 workers.

    .venv/bin/python benchmarks/distributed.py

In one run on this machine, trains the kit's MNIST recipe (``mnist``/``convnet``, global batch
256, the recipe's epochs) with ``swtwo_tf.distribute``:

- launched as 1, 2 and 3 worker processes (``MultiWorkerMirroredStrategy`` over loopback,
  exactly ``swtwo train mnist --workers N``), the cores shared out between the workers;
- 2 workers again, worker 1 killed (SIGKILL) in the middle of epoch 3: the job restarts from
  its backup and must finish with the same epochs and accuracy;
- in this process, one ``MirroredStrategy`` over two logical CPU devices.

Each row: test accuracy, wall time of the whole job (start-up included) and CPU time of all
its processes, start-up until the first step, the median milliseconds per step and the
examples per second of whole epochs (median of the epochs after the first, which also traces
the step and fills the data cache), and the milliseconds of one all-reduce of the model's
weights on its own. Writes ``benchmarks/results/distributed.json``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile

import common

from swtwo_tf import config, distribute

DATASET, MODEL = "mnist", "convnet"
#: Epoch in which the fault-tolerance run kills worker 1.
KILL_EPOCH = 3


def row(split: str, report: dict, *, wall: float, cpu: float) -> dict:
    """One table row from a run's metrics (``distribute.train``'s report)."""
    later = report["history"][1:] or report["history"]  # the first also traces and caches
    seconds = statistics.median(e["seconds"] for e in later)
    examples = statistics.median(e["examples"] for e in later)
    step_ms = statistics.median(e["step_ms"] for e in later)
    workers = report.get("worker_seconds", [report["chief"]])
    startup = [w["startup_seconds"] for w in workers if "startup_seconds" in w]
    return {"dataset": DATASET, "model": MODEL, "split": split,
            "test_accuracy": report["test_accuracy"], "epochs": report["epochs"],
            "train_seconds": round(wall, 1), "train_cpu_seconds": round(cpu, 1),
            "startup_seconds": max(startup) if startup else None,
            "ms_per_step": step_ms,
            "examples_per_second": round(examples / seconds),
            "all_reduce_ms": report["chief"]["all_reduce_ms"],
            "restarts": report.get("restarts", 0), "replicas": report["replicas"],
            "batch_size": report["global_batch"], "parameters": report["parameters"]}


def launched(workers: int, **options) -> dict:
    with tempfile.TemporaryDirectory(prefix="swtwo-bench-") as out:
        report = distribute.launch(DATASET, MODEL, out, workers=workers, **options)
    if report["data_source"] != "tfds":
        raise SystemExit(f"{DATASET}: the real dataset is needed "
                         f"(swtwo datasets download {DATASET})")
    cpu = report["cpu_seconds"]  # every worker process, the killed ones too
    name = f"{workers} worker{'s' * (workers > 1)}"
    if options.get("kill"):
        if not report["killed"]:
            raise SystemExit(f"the job ended before worker {options['kill'][0]} could be "
                             f"killed in epoch {options['kill'][1]}")
        name += f", worker {options['kill'][0]} killed in epoch {options['kill'][1]}"
    result = row(name, report, wall=report["wall_seconds"], cpu=cpu)
    print(f"-> {name}: {result['test_accuracy']:.2%}, {result['train_seconds'] / 60:.1f} min, "
          f"{result['ms_per_step']:.0f} ms/step, {result['restarts']} restart(s)", flush=True)
    return result


def mirrored() -> dict:
    import time

    start, cpu_start = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="swtwo-bench-") as out:
        _, report = distribute.train(DATASET, MODEL, out, strategy=distribute.local_strategy(2))
    result = row("1 process, 2 replicas (MirroredStrategy)", report,
                 wall=time.perf_counter() - start, cpu=time.process_time() - cpu_start)
    print(f"-> MirroredStrategy: {result['test_accuracy']:.2%}, "
          f"{result['train_seconds'] / 60:.1f} min", flush=True)
    return result


def main() -> int:
    args = common.parse_args("distributed", __doc__.splitlines()[0], [])
    distribute.split_cpu(2)  # this process's CPU as two devices, before TensorFlow starts
    rows = [launched(n) for n in (1, 2, 3)]
    rows.append(launched(2, kill=(1, 2 if config.quick_mode() else KILL_EPOCH)))
    rows.append(mirrored())
    common.print_table(rows)
    common.write_report(rows, "python benchmarks/distributed.py", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

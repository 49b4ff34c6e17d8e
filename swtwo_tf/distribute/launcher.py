"""Start a job of N worker processes on this machine, restart it from its backup when a worker
dies, and leave no process behind (chapter 11; ``swtwo train DATASET --workers N``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.distribute.cluster import check_ports, free_ports, tf_config
from swtwo_tf.distribute.worker import CHIEF
from swtwo_tf.files import write_json


class WorkerFailed(RuntimeError):
    """A worker exited with an error more often than the job may restart."""


def workers_alive(out: str | os.PathLike) -> list[int]:
    """Process ids of the worker processes still running for the job writing to ``out``
    (read from ``/proc``; empty when there is none, or on a system without ``/proc``)."""
    alive, out = [], str(out)
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in command]
        if "swtwo_tf.distribute" in words and out in words:
            alive.append(int(entry.name))
    return alive


def launch(dataset: str, model_name: str | None = None, out: str | os.PathLike | None = None,
           *, workers: int, seed: int = 42, epochs: int | None = None,
           port: int | None = None, host: str = "127.0.0.1", threads: int | None = None,
           max_restarts: int = 1, kill: tuple[int, int] | None = None,
           record_shards: bool = False, timeout: float | None = None, log=print) -> dict:
    """Train a recipe with ``workers`` worker processes on this machine; returns the chief's
    metrics (``out/metrics.json``) with ``restarts``, ``killed``, ``wall_seconds``,
    ``cpu_seconds`` (every worker process of every attempt) and each worker's times added.

    Worker ``i`` listens on ``port + i`` (default: free ports), logs to
    ``out/logs/worker-i.log`` and uses ``threads`` CPU threads (default: this machine's
    cores shared out). When a worker exits with an error, the others are stopped and the
    whole job starts again from the last finished epoch, at most ``max_restarts`` times.
    ``kill=(worker, epoch)`` kills that worker (SIGKILL) in the middle of that epoch of the
    first attempt: what a lost machine does to a job. ``timeout`` (seconds) stops a job that
    hangs. Every worker process is gone when this returns or raises.
    """
    from swtwo_tf import datasets
    from swtwo_tf.datasets import core
    from swtwo_tf.models import recipe_for

    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"--workers must be an int >= 1, got {workers!r}")
    if not isinstance(max_restarts, int) or max_restarts < 0:
        raise ValueError(f"max_restarts must be an int >= 0, got {max_restarts!r}")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    spec = datasets.get_spec(dataset)
    model_name = model_name or spec.default_model
    recipe = recipe_for(dataset, model_name)
    if recipe.early_stopping:
        raise ValueError(f"{dataset}/{model_name} stops early; multi-worker training runs a "
                         "fixed number of epochs: pick a recipe without early stopping")
    if kill is not None and not (0 <= kill[0] < workers and kill[1] >= 1):
        raise ValueError(f"kill=(worker, epoch) needs a worker in 0..{workers - 1} and an "
                         f"epoch >= 1, got {kill!r}")
    if spec.tfds is not None and core.locate(dataset) is None:
        raise core.DatasetUnavailable(dataset, core.search_dirs(),
                                      "it is not prepared, and every worker reads it")
    if port is not None:
        check_ports(list(range(port, port + workers)), host)
    out = Path(out or config.REPO_ROOT / "runs" / f"{dataset}_{model_name}_{workers}w")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    arguments = [dataset, model_name, str(out), "--seed", str(seed), "--threads", str(threads)]
    arguments += (["--epochs", str(epochs)] if epochs else [])
    arguments += (["--record-shards"] if record_shards else [])
    start, cpu_start, killed = time.perf_counter(), config.children_cpu_seconds(), []
    with _terminate_as_interrupt():
        attempt = _attempts(arguments, out, workers=workers, port=port, host=host, kill=kill,
                            killed=killed, max_restarts=max_restarts, log=log,
                            deadline=None if timeout is None else start + timeout)
    report = json.loads((out / "metrics.json").read_text())
    report["restarts"] = attempt
    report["killed"] = [{"worker": kill[0], "epoch": kill[1]}] if killed else []
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    report["cpu_seconds"] = round(config.children_cpu_seconds() - cpu_start, 1)
    report["worker_seconds"] = [json.loads((out / "logs" / f"worker-{i}.json").read_text())
                                for i in range(workers)]
    shutil.rmtree(out / "backup", ignore_errors=True)  # finished: a rerun starts afresh
    write_json(out / "metrics.json", report)
    return report


class _terminate_as_interrupt:
    """While the job runs, SIGTERM (``kill``, a closing terminal) stops the launcher the way
    Ctrl-C does, so its clean-up stops every worker (in the main thread; elsewhere the
    handler cannot be set and nothing changes)."""

    def __enter__(self):
        import threading

        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._interrupt)
        return self

    @staticmethod
    def _interrupt(signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _attempts(arguments, out: Path, *, workers, port, host, kill, killed, max_restarts, log,
              deadline) -> int:
    """Run the job, restarting it from its backup when a worker fails; returns how many
    restarts it took."""
    for attempt in range(max_restarts + 1):
        ports = list(range(port, port + workers)) if port else free_ports(workers, host)
        check_ports(ports, host)
        hosts = [f"{host}:{p}" for p in ports]
        log(f"{'starting' if attempt == 0 else 'restarting'} {workers} worker"
            f"{'s' * (workers > 1)} on {', '.join(hosts)}; logs in {out / 'logs'}")
        failed = _run_job(hosts, arguments, out / "logs", kill=kill if attempt == 0 else None,
                          killed=killed, log=log, deadline=deadline)
        if failed is None:
            return attempt
        worker, code, tail = failed
        if attempt == max_restarts:
            raise WorkerFailed(f"worker {worker} exited with status {code} and the job may "
                               f"restart {max_restarts} time(s); the end of its log "
                               f"({out / 'logs' / f'worker-{worker}.log'}):\n{tail}")
        log(f"worker {worker} exited with status {code}: restarting the job from its last "
            f"backup ({attempt + 1} of {max_restarts})")
    raise AssertionError("unreachable")  # pragma: no cover


def _run_job(hosts, arguments, logs: Path, *, kill, killed: list, deadline, log):
    """Run one attempt of the job; None when every worker succeeded, else ``(worker, exit
    status, last lines of its log)`` of the first that failed. Kills every worker left.
    ``kill=(worker, epoch)`` kills that worker once it is a quarter into that epoch (and
    appends it to ``killed``)."""
    processes, files = [], []
    try:
        for index in range(len(hosts)):
            env = {**os.environ, "TF_CONFIG": json.dumps(tf_config(hosts, index)),
                   "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                   "PYTHONUNBUFFERED": "1", "SWTWO_LAUNCHED_AT": str(time.time()),
                   "SWTWO_LAUNCHER_PID": str(os.getpid())}
            handle = open(logs / f"worker-{index}.log", "w")  # noqa: SIM115 - closed below
            files.append(handle)
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "swtwo_tf.distribute", *arguments], env=env,
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=config.REPO_ROOT))
        announced = 0
        while True:
            codes = [p.poll() for p in processes]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                index, code = failed[0]
                return index, code, _tail(logs / f"worker-{index}.log")
            if all(c == 0 for c in codes):
                return None
            announced = _echo_epochs(logs / f"worker-{CHIEF}.log", announced, log)
            if kill and not killed and _reached(logs / f"worker-{kill[0]}.log", kill[1]):
                log(f"killing worker {kill[0]} (SIGKILL) in the middle of epoch {kill[1]}")
                os.killpg(processes[kill[0]].pid, signal.SIGKILL)
                killed.append(kill)
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError(f"the job ran past its timeout; logs in {logs}")
            time.sleep(0.2)
    finally:
        _stop(processes)
        for handle in files:
            handle.close()


def _stop(processes, grace: float = 3.0) -> None:
    """Terminate every process (and its group) still running; SIGKILL after ``grace`` s."""
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    end = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.is_file() else []


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(_lines(path)[-lines:])


def _reached(path: Path, epoch: int) -> bool:
    """Has the worker logging to ``path`` passed the first quarter of ``epoch``?"""
    return any(line.startswith(f"epoch {epoch}/") and " step " in line for line in _lines(path))


def _echo_epochs(path: Path, shown: int, log) -> int:
    """Pass the chief's new finished-epoch and resume lines on to ``log``; returns how many
    have been shown."""
    lines = [line for line in _lines(path)
             if (line.startswith("epoch ") and ": loss" in line) or "resuming" in line]
    for line in lines[shown:]:
        log(f"worker {CHIEF}: {line}")
    return len(lines)

"""Paths, quick vs full mode, and reproducibility (used by every chapter).

Chapter 00 introduces :func:`seed_everything` and :func:`environment`; every later chapter
calls ``seed_everything`` in its setup cell. Nothing here imports TensorFlow at module level,
so the ``swtwo`` command starts fast.

Quick mode (``SWTWO_QUICK=1``, set by ``make test``) is read only by the helpers: the
training helper caps epochs and steps, and the dataset loaders take subsets. Notebooks never
branch on it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: Root of the repository (the package is installed editable from it).
REPO_ROOT = Path(__file__).resolve().parents[1]

QUICK_ENV = "SWTWO_QUICK"
#: In quick mode an epoch is at most this many steps (batches) ...
QUICK_MAX_STEPS = 200
#: ... and a run about this many steps in all (unless a recipe asks for fewer), but never
#: fewer than QUICK_MIN_EPOCHS epochs (so a small dataset, such as an offline sample, still
#: trains long enough to learn); see quick_plan().
QUICK_STEP_BUDGET = 250
QUICK_MIN_EPOCHS = 2

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """True when ``$SWTWO_QUICK`` asks for the short, test-sized run.

    Raises ValueError on a value that is neither true-ish nor false-ish, so a typo such as
    ``SWTWO_QUICK=ture`` does not silently start an hour-long full run.
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"${QUICK_ENV}={os.environ[QUICK_ENV]!r} is not understood: "
        "use 1 for quick mode or 0 (or unset it) for the full run"
    )


def quick_plan(epochs: int, steps_per_epoch: int | None,
               budget: int | None = None) -> tuple[int, int]:
    """``(epochs, steps per epoch)`` the training helper runs in quick mode.

    ``epochs`` is what the full run asks for, ``steps_per_epoch`` the number of batches in
    the training set (None if unknown) and ``budget`` the steps of the whole quick run
    (default :data:`QUICK_STEP_BUDGET`; a recipe whose steps are slow, such as an RNN over
    long reviews, asks for fewer). An epoch is cut to at most ``budget / QUICK_MIN_EPOCHS``
    steps (and :data:`QUICK_MAX_STEPS`), so every quick run sees at least two epochs.
    Used by ``training.fit`` and by the learning-rate schedules, which must agree.
    """
    budget = QUICK_STEP_BUDGET if budget is None else budget
    if not isinstance(budget, int) or budget < QUICK_MIN_EPOCHS:
        raise ValueError(f"quick budget must be an int >= {QUICK_MIN_EPOCHS}, got {budget!r}")
    cap = min(QUICK_MAX_STEPS, budget // QUICK_MIN_EPOCHS)
    steps = max(1, min(steps_per_epoch or cap, cap))
    return min(epochs, max(QUICK_MIN_EPOCHS, budget // steps)), steps


def mode_name() -> str:
    """``"quick"`` or ``"full"``, for printing beside results."""
    return "quick" if quick_mode() else "full"


def samples_dir() -> Path:
    """Folder of the offline samples (``data/samples``; ``$SWTWO_SAMPLES_DIR`` overrides)."""
    return Path(os.environ.get("SWTWO_SAMPLES_DIR", REPO_ROOT / "data" / "samples"))


def build_dir() -> Path:
    """Folder for everything the kit writes: models, results, figures (``build/``).

    ``$SWTWO_BUILD_DIR`` overrides it; ``make course`` points it at its output folder.
    """
    return Path(os.environ.get("SWTWO_BUILD_DIR", REPO_ROOT / "build"))


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process's finished, reaped child processes.

    The difference of this value around a child's run (a notebook's kernel in ``make
    course``, the worker processes of a multi-worker job) is the CPU time it spent, all
    cores together, even if it was killed.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seed_everything(seed: int = 42, *, deterministic: bool = True) -> int:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow ops deterministic.

    Every chapter's setup cell calls this (introduced in chapter 00). With the same seed, two
    runs of a chapter on the same machine give identical weights and metrics. Determinism costs
    some speed on GPUs and a little on CPUs; pass ``deterministic=False`` to trade it away.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and TF/Keras
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return seed


#: CPU features that change how fast TensorFlow and TFLite run (int8 dot products above all).
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def cpu_info() -> dict:
    """``{"cpu_model": name, "avx512": bool or None, "cpu_flags": [...]}`` of this processor.

    Read from ``/proc/cpuinfo`` (``lscpu`` shows the same "Model name"); ``cpu_flags`` lists
    which of :data:`CPU_FLAGS` it has. Elsewhere the model is :func:`platform.processor`,
    ``avx512`` is None (unknown) and ``cpu_flags`` empty. Timings are only comparable on the
    same CPU: a cloud VM can change processor between days with the same core count, and
    AVX-512 changes how fast convolutions run, so every recorded time carries this.
    """
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"cpu_model": platform.processor() or platform.machine(), "avx512": None,
                "cpu_flags": []}
    lines = info.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines
                  if line.startswith("model name")), "") or platform.machine()
    flags = next((line.split(":", 1)[1].split() for line in lines
                  if line.startswith("flags")), None)
    return {"cpu_model": model, "avx512": None if flags is None else "avx512f" in flags,
            "cpu_flags": [flag for flag in CPU_FLAGS if flag in (flags or ())]}


def cpu_kind(cpu_flags: list[str] | None = None) -> str:
    """``"AVX-512"``, ``"AVX2"`` or ``"other"``: the kind of CPU whose ``cpu_flags`` (as
    :func:`cpu_info` gives them; default this processor's) these are. Timings are compared,
    and benchmark rows merged, only within one kind."""
    flags = cpu_info()["cpu_flags"] if cpu_flags is None else cpu_flags
    if "avx512f" in flags:
        return "AVX-512"
    return "AVX2" if "avx2" in flags else "other"


def machine_kind(machine: dict) -> str:
    """The CPU kind of a recorded ``machine`` (a benchmark report's): :func:`cpu_kind` of its
    ``cpu_flags``, ``"not recorded"`` when it has none (reports from before they did)."""
    return cpu_kind(machine["cpu_flags"]) if "cpu_flags" in machine else "not recorded"


def environment() -> dict:
    """Versions, hardware and mode of this run, as a dict (shown by chapter 00's setup cell)."""
    import keras
    import numpy as np
    import tensorflow as tf
    import tensorflow_datasets as tfds

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_datasets": tfds.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(terse=True),
        "cpu_cores": os.cpu_count(),
        **cpu_info(),
        "gpus": [gpu.name for gpu in gpus],
        "mode": mode_name(),
    }

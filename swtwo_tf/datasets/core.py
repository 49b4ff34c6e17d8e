"""Where the real datasets live, and loading them through TensorFlow Datasets.

This is the only module that knows about data folders, downloads and the offline fallback
(used by every chapter through :func:`load`; chapter 00 shows :func:`status`).

Data folder resolution: an explicit ``data_dir`` argument is the only folder used; without
one the kit searches ``$TFDS_DATA_DIR`` and then TFDS's default ``~/tensorflow_datasets``,
and the first folder holding the prepared dataset wins. A dataset found nowhere is downloaded
into the first folder, but only when downloading is allowed and the dataset's host answers
within a few seconds. Otherwise :func:`load` falls back to the project's own tiny sample in
``data/samples`` with a visible :class:`SampleDataWarning`, or raises
:class:`DatasetUnavailable` when ``samples=False``.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import warnings
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.datasets.registry import DATASETS, get_spec


class DatasetUnavailable(RuntimeError):
    """A dataset is neither prepared in any searched folder nor downloadable right now."""

    def __init__(self, name: str, searched: list[Path], reason: str):
        self.name = name
        self.searched = list(searched)
        self.reason = reason
        spec = DATASETS[name]
        folders = "\n".join(f"  - {d / spec.folder}" for d in self.searched)
        super().__init__(
            f"Dataset '{name}' ({spec.title}) is not available: {reason}.\n"
            f"Folders searched:\n{folders}\n"
            f"Fetch it once, while online, with:\n  {spec.download_command}\n"
            "or point $TFDS_DATA_DIR at a folder that already holds it."
        )


class SampleDataWarning(UserWarning):
    """The real dataset is missing, so a chapter runs on the project's tiny offline sample."""


def default_data_dir() -> Path:
    """TFDS's own default data folder (``~/tensorflow_datasets``)."""
    return Path("~/tensorflow_datasets").expanduser()


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for prepared datasets, in order (first hit wins)."""
    if data_dir is not None:
        return [Path(data_dir).expanduser().absolute()]
    dirs = []
    if os.environ.get("TFDS_DATA_DIR"):
        dirs.append(Path(os.environ["TFDS_DATA_DIR"]).expanduser().absolute())
    dirs.append(default_data_dir())
    unique = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first searched data folder that holds ``name`` prepared, or None."""
    spec = get_spec(name)
    if spec.tfds is None:
        return None
    for folder in search_dirs(data_dir):
        if (folder / spec.folder / "dataset_info.json").is_file():
            return folder
    return None


def offline_forced() -> bool:
    """True when ``$SWTWO_OFFLINE`` is set: never touch the network (tests use it)."""
    return os.environ.get("SWTWO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


@functools.lru_cache(maxsize=16)
def _host_answers(host: str, timeout: float) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def online(host: str, timeout: float = 3.0) -> bool:
    """Whether ``host`` accepts a connection within ``timeout`` seconds (cached per process)."""
    if offline_forced():
        return False
    return _host_answers(host, timeout)


def _tfds_source(name: str):
    return get_spec(name).tfds_source()


def split_sizes(name: str, folder: Path) -> dict[str, int]:
    """Examples per split of a prepared dataset, read from its ``dataset_info.json``."""
    info = json.loads((folder / get_spec(name).folder / "dataset_info.json").read_text())
    return {
        split["name"]: sum(int(n) for n in split.get("shardLengths", []))
        for split in info.get("splits", [])
    }


def size_on_disk(name: str, folder: Path) -> int:
    """Bytes used by a prepared dataset's files."""
    root = folder / get_spec(name).folder
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def fetch(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Download and prepare ``name`` with TFDS (progress bars on stderr); returns its folder.

    Raises :class:`DatasetUnavailable` at once, without waiting on the network, when the
    dataset's host does not answer.
    """
    tfds_source = _tfds_source(name)
    target = search_dirs(data_dir)[0]
    if not online(tfds_source.host):
        raise DatasetUnavailable(
            name, search_dirs(data_dir),
            f"no network: {tfds_source.host} did not answer, so it cannot be downloaded now",
        )
    import tensorflow_datasets as tfds

    target.mkdir(parents=True, exist_ok=True)
    builder = tfds.builder(tfds_source.name, data_dir=str(target))
    builder.download_and_prepare()
    return target


def download(names: list[str], data_dir: str | os.PathLike | None = None, *,
             log=print) -> None:
    """Fetch and prepare each dataset of ``names`` that is not prepared yet, saying what it
    does (``swtwo datasets download``). Unknown names fail before any download starts."""
    for name in names:
        _tfds_source(name)
    for name in names:
        found = locate(name, data_dir)
        if found is not None:
            log(f"{name}: already prepared in {found / get_spec(name).folder}")
            continue
        log(f"{name}: downloading and preparing into {search_dirs(data_dir)[0]}"
            " (progress below) ...")
        sizes = split_sizes(name, fetch(name, data_dir))
        log(f"{name}: ready ({', '.join(f'{k} {v:,}' for k, v in sizes.items())})")


def load(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    as_supervised: bool = False,
    download: bool = True,
    samples: bool = True,
    shuffle_files: bool = False,
):
    """Load one split of a course dataset as a ``tf.data.Dataset`` (used by every chapter).

    Args:
        name: a registered dataset with a TFDS source (``registry.names(real=True)``).
        split: a TFDS split spec, for example ``"train"``, ``"test"`` or ``"train[:90%]"``.
        data_dir: the only folder to look in; default: ``$TFDS_DATA_DIR``, then
            ``~/tensorflow_datasets``.
        as_supervised: yield ``(input, label)`` tuples instead of feature dicts.
        download: allow a download when the dataset is missing and its host answers.
        samples: when the real dataset is unavailable, fall back to the project's tiny
            sample (with a :class:`SampleDataWarning`) instead of raising
            :class:`DatasetUnavailable`.
        shuffle_files: passed to ``tfds.load``.

    In quick mode (``SWTWO_QUICK=1``) each split is cut to the dataset's ``quick_examples``
    (``DatasetSpec.quick_limit``).
    The elements have the same structure and dtypes whether they come from TFDS or from the
    sample, so pipelines never need to know which one they got.
    """
    spec = get_spec(name)
    host = _tfds_source(name).host
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"split must be a split spec such as 'train', got {split!r}")
    folder = locate(name, data_dir)
    if folder is None and download and online(host):
        print(f"Downloading {name} into {search_dirs(data_dir)[0]} (once) ...", flush=True)
        folder = fetch(name, data_dir)
    if folder is not None:
        import tensorflow_datasets as tfds

        ds = tfds.load(
            spec.tfds.name, split=split, data_dir=str(folder), download=False,
            as_supervised=as_supervised, shuffle_files=shuffle_files,
        )
    else:
        reason = "not found in any folder searched"
        if download:
            reason += f", and {host} cannot be reached to download it"
        error = DatasetUnavailable(name, search_dirs(data_dir), reason)
        if not samples or spec.sample is None or not spec.sample.available():
            raise error
        warnings.warn(
            SampleDataWarning(
                f"Using the tiny offline SAMPLE of '{name}' "
                f"({spec.sample.describe()}), not the real dataset: results will be far "
                f"from the chapter's stated numbers.\n{error}"
            ),
            stacklevel=2,
        )
        ds = spec.sample.load(split, supervised_keys=spec.supervised_keys,
                              as_supervised=as_supervised)
    limit = spec.quick_limit(split) if config.quick_mode() else None
    if limit is not None:
        ds = ds.take(limit)
    return ds


def source(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """``"tfds"`` when the real dataset is prepared locally, else ``"samples"``.

    Chapters print it beside their results so a sample run is never mistaken for a real one.
    """
    return "tfds" if locate(name, data_dir) is not None else "samples"


def status(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One row per dataset: where it is, its splits and size, and the offline sample.

    Reads only metadata files, so it is fast and needs no TensorFlow. Used by
    ``swtwo datasets status`` and chapter 00's environment check.
    """
    rows = []
    for name, spec in DATASETS.items():
        if spec.tfds is None:
            continue
        folder = locate(name, data_dir)
        rows.append({
            "name": name,
            "title": spec.title,
            "available": folder is not None,
            "folder": str(folder / spec.folder) if folder else None,
            "splits": split_sizes(name, folder) if folder else {},
            "bytes": size_on_disk(name, folder) if folder else 0,
            "sample": (spec.sample.describe() if spec.sample is not None
                       and spec.sample.available() else None),
            "download_command": spec.download_command,
            "searched": [str(d) for d in search_dirs(data_dir)],
        })
    return rows


def format_status(rows: list[dict]) -> str:
    """The ``swtwo datasets status`` table of :func:`status` rows (also chapter 00's)."""
    from swtwo_tf.tables import format_table

    table = []
    for row in rows:
        if row["available"]:
            splits = " / ".join(f"{k} {v:,}" for k, v in row["splits"].items())
            table.append([row["name"], "ready", splits, _human(row["bytes"]), row["folder"]])
        else:
            where = f"get it with: {row['download_command']}"
            if row["sample"]:
                where += f"; until then chapters use the offline sample {row['sample']}"
            table.append([row["name"], "MISSING", "", "", where])
    searched = ", ".join(rows[0]["searched"]) if rows else ""
    return format_table(["dataset", "status", "splits", "size", "where"], table,
                        align="lllrl",
                        title=f"Datasets (folders searched, in order: {searched})\n")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def arrays(name: str, split: str, data_dir=None):
    """``(inputs, labels)`` of one split of ``name`` (as :func:`load` gives it) as NumPy arrays."""
    import numpy as np

    xs, ys = [], []
    for x, y in load(name, split, data_dir=data_dir, as_supervised=True).batch(
            5_000).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def split_off_validation(indices, fraction: float, seed: int):
    """``(validation, train)``: a seeded random ``fraction`` of ``indices`` (an int n means
    ``range(n)``) and the rest, in shuffled order. Every pipeline carves its validation set so."""
    import numpy as np

    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(indices)
    n_val = max(1, round(len(order) * fraction))
    return order[:n_val], order[n_val:]


#: Batches :func:`ready` keeps made ahead of the training step.
PREFETCH_BATCHES = 2


def batched(inputs, labels, batch_size: int, *, shuffle: bool = False, seed: int = 42,
            preprocess=None):
    """``(input, label)`` arrays as a cached, batched, prefetched ``tf.data`` pipeline;
    ``preprocess(x, y)`` is mapped before caching; with ``shuffle`` the examples are
    reshuffled every epoch from ``seed``, so a run is reproducible. Ends in :func:`ready`."""
    import tensorflow as tf

    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    ds = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if preprocess is not None:
        ds = ds.map(preprocess, tf.data.AUTOTUNE)
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return ready(ds.batch(batch_size))


def ready(ds):
    """``ds`` with ``PREFETCH_BATCHES`` batches prefetched and tf.data's autotuning off: how
    every training pipeline of the package ends.

    These pipelines read memory or make batches in Python, so two batches ready are all a
    training step waits for. With autotuning on, Keras's ending of an epoch's iterator waits
    for tf.data's autotuning threads, idle: 3-5 s an epoch for the cached pipelines (a quick-
    mode speech training took 20-24 s instead of 15 s), and about 10 s of 20 (short epochs) or
    30 s of 80 (chapter 08's 125 steps) for the digit strings, at the same CPU time
    (docs/experiments.md)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)

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
from dataclasses import dataclass
from pathlib import Path

from swtwo_tf import config


@dataclass(frozen=True)
class DatasetSpec:
    """What the kit knows about one dataset."""

    name: str
    tfds_name: str  # name[/config] as tfds.load wants it
    version: str  # the version tensorflow-datasets==4.9.10 prepares
    title: str
    host: str  # download host, probed before any download
    supervised_keys: tuple[str, str]
    splits: tuple[str, ...]
    quick_examples: int | None  # examples per split in quick mode (None: all)
    licence: str

    @property
    def folder(self) -> Path:
        """Relative folder of the prepared dataset inside a TFDS data dir."""
        return Path(self.tfds_name) / self.version

    @property
    def download_command(self) -> str:
        return f"swtwo datasets download {self.name}"


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "mnist", "mnist", "3.0.1", "MNIST handwritten digits (28x28 grey, 10 classes)",
            "storage.googleapis.com", ("image", "label"), ("train", "test"), 20_000,
            "CC BY-SA 3.0",
        ),
        DatasetSpec(
            "fashion_mnist", "fashion_mnist", "3.0.1",
            "Fashion-MNIST clothing images (28x28 grey, 10 classes)",
            "storage.googleapis.com", ("image", "label"), ("train", "test"), 5_000, "MIT",
        ),
        DatasetSpec(
            "spoken_digit", "spoken_digit", "1.0.9",
            "Free Spoken Digit Dataset (8 kHz speech, 10 digits, 5 speakers)",
            "github.com", ("audio", "label"), ("train",), None, "CC BY-SA 4.0",
        ),
        DatasetSpec(
            "imdb_reviews", "imdb_reviews/plain_text", "1.0.0",
            "IMDB movie reviews (binary sentiment)",
            "ai.stanford.edu", ("text", "label"), ("train", "test", "unsupervised"), 5_000,
            "research use (Maas et al. 2011)",
        ),
    )
}


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


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` for ``name``; ValueError naming the known datasets otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        known = ", ".join(DATASETS)
        raise ValueError(f"unknown dataset {name!r}: expected one of {known}") from None


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
    spec = get_spec(name)
    target = search_dirs(data_dir)[0]
    if not online(spec.host):
        raise DatasetUnavailable(
            name, search_dirs(data_dir),
            f"no network: {spec.host} did not answer, so it cannot be downloaded now",
        )
    import tensorflow_datasets as tfds

    target.mkdir(parents=True, exist_ok=True)
    builder = tfds.builder(spec.tfds_name, data_dir=str(target))
    builder.download_and_prepare()
    return target


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
        name: ``mnist``, ``fashion_mnist``, ``spoken_digit`` or ``imdb_reviews``.
        split: a TFDS split spec, for example ``"train"``, ``"test"`` or ``"train[:90%]"``.
        data_dir: the only folder to look in; default: ``$TFDS_DATA_DIR``, then
            ``~/tensorflow_datasets``.
        as_supervised: yield ``(input, label)`` tuples instead of feature dicts.
        download: allow a download when the dataset is missing and its host answers.
        samples: when the real dataset is unavailable, fall back to the project's tiny
            sample (with a :class:`SampleDataWarning`) instead of raising
            :class:`DatasetUnavailable`.
        shuffle_files: passed to ``tfds.load``.

    In quick mode (``SWTWO_QUICK=1``) each split is cut to the dataset's ``quick_examples``.
    The elements have the same structure and dtypes whether they come from TFDS or from the
    sample, so pipelines never need to know which one they got.
    """
    spec = get_spec(name)
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"split must be a split spec such as 'train', got {split!r}")
    folder = locate(name, data_dir)
    if folder is None and download and online(spec.host):
        print(f"Downloading {name} into {search_dirs(data_dir)[0]} (once) ...", flush=True)
        folder = fetch(name, data_dir)
    if folder is not None:
        import tensorflow_datasets as tfds

        ds = tfds.load(
            spec.tfds_name, split=split, data_dir=str(folder), download=False,
            as_supervised=as_supervised, shuffle_files=shuffle_files,
        )
    else:
        reason = "not found in any folder searched"
        if download:
            reason += f", and {spec.host} cannot be reached to download it"
        error = DatasetUnavailable(name, search_dirs(data_dir), reason)
        from swtwo_tf.datasets import samples as sample_store

        if not samples or not sample_store.available(name):
            raise error
        warnings.warn(
            SampleDataWarning(
                f"Using the tiny offline SAMPLE of '{name}' "
                f"({sample_store.describe(name)}), not the real dataset: results will be far "
                f"from the chapter's stated numbers.\n{error}"
            ),
            stacklevel=2,
        )
        ds = sample_store.load(name, split, as_supervised=as_supervised)
    if config.quick_mode() and spec.quick_examples is not None:
        ds = ds.take(spec.quick_examples)
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
    from swtwo_tf.datasets import samples as sample_store

    rows = []
    for name, spec in DATASETS.items():
        folder = locate(name, data_dir)
        rows.append({
            "name": name,
            "title": spec.title,
            "available": folder is not None,
            "folder": str(folder / spec.folder) if folder else None,
            "splits": split_sizes(name, folder) if folder else {},
            "bytes": size_on_disk(name, folder) if folder else 0,
            "sample": sample_store.describe(name) if sample_store.available(name) else None,
            "download_command": spec.download_command,
            "searched": [str(d) for d in search_dirs(data_dir)],
        })
    return rows

"""The offline fallback: tiny samples the project makes itself (``data/samples``).

``data/generate_samples.py`` writes them and ``data/README.md`` documents them. They keep
every notebook runnable on a fresh machine without the real datasets; :func:`core.load` uses
them only when the real dataset is unavailable, and warns when it does. Each sample yields
elements with exactly the structure and dtypes of the TFDS dataset it stands in for.

Files:
    mnist.npz, fashion_mnist.npz   arrays ``{split}_images`` (N, 28, 28) uint8, ``{split}_labels``
    spoken_digit/<speaker>/<digit>_<speaker>_<index>.wav   8 kHz mono 16-bit PCM (FSDD names)
    imdb_reviews.jsonl             one ``{"split", "text", "label"}`` object per line
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from swtwo_tf import config

_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def _path(name: str) -> Path:
    root = config.samples_dir()
    return {
        "mnist": root / "mnist.npz",
        "fashion_mnist": root / "fashion_mnist.npz",
        "spoken_digit": root / "spoken_digit",
        "imdb_reviews": root / "imdb_reviews.jsonl",
    }[name]


def available(name: str) -> bool:
    """Whether the sample for ``name`` is present."""
    path = _path(name)
    return path.is_dir() and any(path.rglob("*.wav")) if name == "spoken_digit" else path.is_file()


def wav_files(root: Path | None = None) -> list[Path]:
    """The spoken-digit sample's WAV files, sorted (FSDD-style names)."""
    root = root or _path("spoken_digit")
    return sorted(p for p in root.rglob("*.wav") if _FSDD_NAME.match(p.name))


def split_sizes(name: str) -> dict[str, int]:
    """Examples per split of the sample."""
    if name in ("mnist", "fashion_mnist"):
        with np.load(_path(name)) as arrays:
            return {
                key[: -len("_labels")]: len(arrays[key])
                for key in arrays.files if key.endswith("_labels")
            }
    if name == "spoken_digit":
        return {"train": len(wav_files())}
    sizes: dict[str, int] = {}
    for record in _reviews():
        sizes[record["split"]] = sizes.get(record["split"], 0) + 1
    return sizes


def describe(name: str) -> str:
    """Short human description, e.g. ``"data/samples/mnist.npz: train 1,297 / test 500"``."""
    path = _path(name)
    try:
        shown = path.relative_to(config.REPO_ROOT)
    except ValueError:
        shown = path
    sizes = " / ".join(f"{split} {n:,}" for split, n in split_sizes(name).items())
    return f"{shown}: {sizes}"


def _reviews() -> list[dict]:
    with open(_path("imdb_reviews"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _ranges(name: str, split: str, sizes: dict[str, int]) -> list[tuple[str, int, int]]:
    """Resolve a TFDS split spec ('train', 'test[:50%]', 'train+test') against the sample."""
    import tensorflow_datasets as tfds

    infos = {
        split_name: tfds.core.SplitInfo(
            name=split_name, shard_lengths=[n], num_bytes=0, filename_template=None
        )
        for split_name, n in sizes.items()
    }
    try:
        instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
    except (ValueError, KeyError, AssertionError) as exc:
        raise ValueError(
            f"split {split!r} does not exist in the offline sample of {name}: "
            f"it has {', '.join(sizes)} ({exc})"
        ) from None
    return [(ins.splitname, ins.from_, ins.to) for ins in instructions]


def load(name: str, split: str = "train", *, as_supervised: bool = False):
    """The sample of ``name`` as a ``tf.data.Dataset`` shaped like the TFDS dataset."""
    import tensorflow as tf

    ranges = _ranges(name, split, split_sizes(name))
    if name in ("mnist", "fashion_mnist"):
        with np.load(_path(name)) as arrays:
            images = np.concatenate([arrays[f"{s}_images"][a:b] for s, a, b in ranges])
            labels = np.concatenate([arrays[f"{s}_labels"][a:b] for s, a, b in ranges])
        ds = tf.data.Dataset.from_tensor_slices(
            {"image": images[..., None].astype(np.uint8), "label": labels.astype(np.int64)}
        )
    elif name == "spoken_digit":
        files = wav_files()
        chosen = [f for _, a, b in ranges for f in files[a:b]]
        audio = [_read_wav_int(f) for f in chosen]
        labels = [int(_FSDD_NAME.match(f.name).group(1)) for f in chosen]
        names = [f.name for f in chosen]

        def generate():
            for samples, label, filename in zip(audio, labels, names, strict=True):
                yield {"audio": samples, "audio/filename": filename, "label": label}

        ds = tf.data.Dataset.from_generator(generate, output_signature={
            "audio": tf.TensorSpec((None,), tf.int64),
            "audio/filename": tf.TensorSpec((), tf.string),
            "label": tf.TensorSpec((), tf.int64),
        })
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(chosen)))
    else:
        by_split: dict[str, list[dict]] = {}
        for record in _reviews():
            by_split.setdefault(record["split"], []).append(record)
        chosen = [r for s, a, b in ranges for r in by_split[s][a:b]]
        ds = tf.data.Dataset.from_tensor_slices({
            "label": np.array([r["label"] for r in chosen], dtype=np.int64),
            "text": np.array([r["text"] for r in chosen], dtype=object),
        })
    if as_supervised:
        from swtwo_tf.datasets.core import get_spec

        x_key, y_key = get_spec(name).supervised_keys
        ds = ds.map(lambda element: (element[x_key], element[y_key]))
    return ds


def _read_wav_int(path: Path) -> np.ndarray:
    """16-bit PCM WAV samples as int64, the way TFDS stores spoken_digit audio."""
    import wave

    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono PCM WAV")
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.int64)

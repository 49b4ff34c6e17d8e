"""The offline fallback: tiny samples the project makes itself (``data/samples``).

``data/generate_samples.py`` writes them and ``data/README.md`` documents them. They keep
every notebook runnable on a fresh machine without the real datasets; ``core.load`` uses
them only when the real dataset is unavailable, and warns when it does. Each sample yields
elements with exactly the structure and dtypes of the TFDS dataset it stands in for.

One class per file layout; a dataset's registry entry names its sample:

- :class:`ImageArrays`: ``mnist.npz``, arrays ``{split}_images`` (N, 28, 28) uint8 and
  ``{split}_labels``;
- :class:`LabelledWavs`: ``spoken_digit/<speaker>/<digit>_<speaker>_<index>.wav``, 8 kHz mono
  16-bit PCM (FSDD names); one split, ``train``;
- :class:`TextLines`: ``imdb_reviews.jsonl``, one ``{"split", "text", "label"}`` per line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swtwo_tf import config

_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


@dataclass(frozen=True)
class Sample:
    """A sample stored at ``data/samples/<relative>`` (``$SWTWO_SAMPLES_DIR`` overrides)."""

    relative: str

    @property
    def path(self) -> Path:
        return config.samples_dir() / self.relative

    def available(self) -> bool:
        return self.path.is_file()

    def split_sizes(self) -> dict[str, int]:
        raise NotImplementedError

    def elements(self, ranges: list[tuple[str, int, int]]):
        """The ``tf.data.Dataset`` of the chosen ``(split, start, stop)`` ranges."""
        raise NotImplementedError

    def describe(self) -> str:
        """Short human description, e.g. ``"data/samples/mnist.npz: train 1,297 / test 500"``."""
        try:
            shown = self.path.relative_to(config.REPO_ROOT)
        except ValueError:
            shown = self.path
        sizes = " / ".join(f"{split} {n:,}" for split, n in self.split_sizes().items())
        return f"{shown}: {sizes}"

    def load(self, split: str = "train", *, supervised_keys=None, as_supervised: bool = False):
        """The sample as a ``tf.data.Dataset`` shaped like the TFDS dataset."""
        ds = self.elements(_ranges(self.relative, split, self.split_sizes()))
        if as_supervised:
            if supervised_keys is None:
                raise ValueError(f"{self.relative}: as_supervised needs the supervised keys")
            x_key, y_key = supervised_keys
            ds = ds.map(lambda element: (element[x_key], element[y_key]))
        return ds


class ImageArrays(Sample):
    """Greyscale images and labels in one ``.npz`` file, a pair of arrays per split."""

    def split_sizes(self) -> dict[str, int]:
        with np.load(self.path) as arrays:
            return {key[: -len("_labels")]: len(arrays[key])
                    for key in arrays.files if key.endswith("_labels")}

    def elements(self, ranges):
        import tensorflow as tf

        with np.load(self.path) as arrays:
            images = np.concatenate([arrays[f"{s}_images"][a:b] for s, a, b in ranges])
            labels = np.concatenate([arrays[f"{s}_labels"][a:b] for s, a, b in ranges])
        return tf.data.Dataset.from_tensor_slices(
            {"image": images[..., None].astype(np.uint8), "label": labels.astype(np.int64)})


class LabelledWavs(Sample):
    """A folder of WAV files named ``{digit}_{speaker}_{index}.wav``; one split, ``train``."""

    def available(self) -> bool:
        return self.path.is_dir() and bool(self.files())

    def files(self) -> list[Path]:
        """The WAV files, sorted."""
        return sorted(p for p in self.path.rglob("*.wav") if _FSDD_NAME.match(p.name))

    def split_sizes(self) -> dict[str, int]:
        return {"train": len(self.files())}

    def elements(self, ranges):
        import tensorflow as tf

        files = self.files()
        chosen = [f for _, a, b in ranges for f in files[a:b]]
        audio = [_pcm16_mono(f) for f in chosen]
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
        return ds.apply(tf.data.experimental.assert_cardinality(len(chosen)))


class TextLines(Sample):
    """Labelled texts in a JSON-lines file: ``{"split", "text", "label"}`` per line."""

    def records(self) -> list[dict]:
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def split_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for record in self.records():
            sizes[record["split"]] = sizes.get(record["split"], 0) + 1
        return sizes

    def elements(self, ranges):
        import tensorflow as tf

        by_split: dict[str, list[dict]] = {}
        for record in self.records():
            by_split.setdefault(record["split"], []).append(record)
        chosen = [r for s, a, b in ranges for r in by_split[s][a:b]]
        return tf.data.Dataset.from_tensor_slices({
            "label": np.array([r["label"] for r in chosen], dtype=np.int64),
            "text": np.array([r["text"] for r in chosen], dtype=object),
        })


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
            f"split {split!r} does not exist in the offline sample {name}: "
            f"it has {', '.join(sizes)} ({exc})"
        ) from None
    return [(ins.splitname, ins.from_, ins.to) for ins in instructions]


def _pcm16_mono(path: Path) -> np.ndarray:
    """A 16-bit mono PCM WAV file's samples as int64, the way TFDS stores spoken_digit audio."""
    import soundfile

    info = soundfile.info(str(path))
    if info.channels != 1 or info.subtype != "PCM_16":
        raise ValueError(f"{path}: expected 16-bit mono PCM WAV, got {info.channels} "
                         f"channel(s) of {info.subtype}")
    return soundfile.read(str(path), dtype="int16")[0].astype(np.int64)

"""The one registry of datasets: everything the kit knows about each one, in one entry.

A :class:`DatasetSpec` says what a dataset is (modality, classes, the structure of its
elements), where it comes from (a TFDS build and/or a tiny offline sample), how its
train/validation/test pipelines are built, which model ``swtwo train`` trains on it by default,
and the accuracy floors the chapters' checks assert. The loaders, the CLI, the training helper
and the evaluation helpers read these entries; none of them branches on a dataset's name.

The course datasets register themselves in their modality's module (``images``, ``speech``,
``text``); ``import swtwo_tf.datasets`` imports them all. Adding a dataset is one
:func:`register` call beside the code that builds its pipelines (``tests/test_registry.py``
adds a toy dataset that way, end to end).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: What a model of each modality takes per example (``deploy.predict`` reads files of it);
#: ``image+audio`` is a pair, an image and a recording of the same thing (chapter 10).
MODALITIES = ("image", "audio", "text", "image+audio")
#: The kinds of run an accuracy floor is given for: full mode on the real data, quick mode on
#: it, and the tiny offline sample (either mode).
FLOOR_KINDS = ("full", "quick", "samples")


@dataclass(frozen=True)
class TfdsSource:
    """Where TensorFlow Datasets prepares a dataset."""

    name: str  # name[/config] as tfds.load wants it
    version: str  # the version tensorflow-datasets==4.9.10 prepares
    host: str  # download host, probed before any download

    @property
    def folder(self) -> Path:
        """Relative folder of the prepared dataset inside a TFDS data dir."""
        return Path(self.name) / self.version


@dataclass(frozen=True)
class DatasetSpec:
    """What the kit knows about one dataset (see the module docstring).

    Args:
        name: the name chapters, ``swtwo`` and benchmarks use.
        title: one line for people.
        modality: one of :data:`MODALITIES`.
        class_names: the label of each class index.
        pipelines: ``pipelines(split=..., batch_size=..., seed=..., **options)`` returns an
            object with ``train``, ``validation``, ``test`` (batched ``tf.data`` datasets of
            ``(input, label)``), ``class_names``, ``sizes`` and ``source``.
        default_model: the recipe ``swtwo train NAME`` trains (``models.recipe_for``).
        floors: ``{check: (full, quick, samples)}``: the least test accuracy a chapter's
            check asserts, by the kind of run (:data:`FLOOR_KINDS`,
            ``evaluation.accuracy_floor``).
        pipeline_splits: the evaluation splits ``pipelines`` accepts; an entry ending in
            ``:`` is a prefix (``"speaker:"`` accepts ``"speaker:theo"``).
        tfds: the TFDS build of the real data, or None for data the kit makes itself.
        features: the element structure ``{key: (shape, dtype name)}`` of the raw data that
            ``datasets.load`` yields, real or sample.
        supervised_keys: ``(input key, label key)`` for ``as_supervised=True``.
        splits: the raw data's splits; ``sizes`` their examples in the real data.
        quick_examples: examples per split ``load`` keeps in quick mode (None: all); a dict
            gives each split its own cap (``{"train": 5000, "test": 2000}``; a split it
            does not name is kept whole). See :meth:`quick_limit`.
        sample: the offline sample standing in for the real data (``samples.Sample``).
        licence: the data's licence, to cite.
    """

    name: str
    title: str
    modality: str
    class_names: tuple[str, ...]
    pipelines: Callable
    default_model: str
    floors: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    pipeline_splits: tuple[str, ...] = ("documented",)
    tfds: TfdsSource | None = None
    features: dict[str, tuple[tuple, str]] = field(default_factory=dict)
    supervised_keys: tuple[str, str] | None = None
    splits: tuple[str, ...] = ()
    sizes: dict[str, int] = field(default_factory=dict)
    quick_examples: int | dict[str, int] | None = None
    sample: object | None = None
    licence: str = ""

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"dataset {self.name!r}: modality must be one of "
                             f"{', '.join(MODALITIES)}, got {self.modality!r}")
        if len(self.class_names) < 2:
            raise ValueError(f"dataset {self.name!r}: needs at least 2 class_names, got "
                             f"{list(self.class_names)}")
        caps = (self.quick_examples if isinstance(self.quick_examples, dict)
                else {"every split": self.quick_examples})
        for split, cap in caps.items():
            if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
                raise ValueError(f"dataset {self.name!r}: quick_examples[{split!r}] must be a "
                                 f"positive int or None, got {cap!r}")
        for check, floors in self.floors.items():
            if len(floors) != len(FLOOR_KINDS) or not all(0 <= f <= 1 for f in floors):
                raise ValueError(f"dataset {self.name!r}: floors[{check!r}] must be three "
                                 f"accuracies ({', '.join(FLOOR_KINDS)}), got {floors!r}")

    def quick_limit(self, split: str) -> int | None:
        """Examples ``load`` keeps of ``split`` (a TFDS split spec such as ``"train[:90%]"``:
        its base split decides) in quick mode; None keeps them all."""
        if not isinstance(self.quick_examples, dict):
            return self.quick_examples
        return self.quick_examples.get(split.split("[", 1)[0].strip())

    @property
    def folder(self) -> Path:
        """Relative folder of the prepared TFDS dataset inside a data dir."""
        return self.tfds_source().folder

    @property
    def download_command(self) -> str:
        return f"swtwo datasets download {self.name}"

    def tfds_source(self) -> TfdsSource:
        """:attr:`tfds`, or ValueError for a dataset the kit makes from other data."""
        if self.tfds is None:
            raise ValueError(f"dataset {self.name!r} is made by the kit, not loaded from TFDS: "
                             "build it with swtwo_tf.datasets.pipelines")
        return self.tfds

    def check_split(self, split: str | None = None) -> str:
        """``split`` if :attr:`pipelines` accepts it (None: the first, the default), else
        ValueError naming the choices."""
        if split is None:
            return self.pipeline_splits[0]
        ok = isinstance(split, str) and any(
            split == s or (s.endswith(":") and split.startswith(s) and len(split) > len(s))
            for s in self.pipeline_splits)
        if not ok:
            shown = ", ".join(f"{s}<name>" if s.endswith(":") else s
                              for s in self.pipeline_splits)
            raise ValueError(f"split {split!r} does not apply to {self.name}: it has {shown}")
        return split


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the registry; ValueError if its name is taken. Returns ``spec``."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"register() takes a DatasetSpec, got {type(spec).__name__}")
    if spec.name in DATASETS:
        raise ValueError(f"a dataset named {spec.name!r} is registered already")
    DATASETS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a dataset from the registry (tests that register a toy dataset clean up)."""
    get_spec(name)
    del DATASETS[name]


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` for ``name``; ValueError naming the known datasets otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        known = ", ".join(DATASETS)
        raise ValueError(f"unknown dataset {name!r}: expected one of {known}") from None


def names(modality: str | None = None, *, real: bool = False) -> list[str]:
    """Registered dataset names, in registration order; only those of ``modality`` if given,
    only those with a TFDS source if ``real``."""
    return [n for n, s in DATASETS.items()
            if modality in (None, s.modality) and (not real or s.tfds is not None)]

"""Data layer: the only code that knows where data comes from.

- ``registry``: the one table of datasets (:class:`DatasetSpec`); ``core``: finding, fetching
  and loading them through TFDS; ``samples``: the tiny offline fallbacks.
- The course datasets, each registered beside its pipelines: ``images`` (mnist,
  fashion_mnist; chapters 01-02), ``speech`` (spoken_digit; 03-04), ``text`` (imdb_reviews;
  05), ``strings`` (digit_strings, connected digits made from FSDD by the kit; 08),
  ``multimodal`` (seen_and_heard, MNIST images paired with spoken digits by the kit; 10).
- ``voices``: more speakers for spoken digits, made by the kit from the text-to-speech engines
  installed (chapter 04; not a registered dataset: ``speech_datasets(extra=...)`` takes them).

    from swtwo_tf import datasets
    train = datasets.load("mnist", "train", as_supervised=True)
    data = datasets.pipelines("spoken_digit", split="speaker:theo", batch_size=32)
"""

import inspect

from swtwo_tf.datasets import (  # noqa: F401  (each registers its datasets)
    images,
    multimodal,
    speech,
    strings,
    text,
)
from swtwo_tf.datasets.core import (
    DatasetUnavailable,
    SampleDataWarning,
    download,
    fetch,
    format_status,
    load,
    locate,
    search_dirs,
    source,
    status,
)
from swtwo_tf.datasets.registry import (
    DATASETS,
    DatasetSpec,
    TfdsSource,
    get_spec,
    names,
    register,
    unregister,
)


def pipelines(dataset: str, *, split: str | None = None, batch_size: int = 64, seed: int = 42,
              **options):
    """Train/validation/test pipelines of any registered dataset, by name.

    One entry point for ``training.train_recipe``, ``swtwo evaluate``/``export`` and the
    benchmarks. ``split`` is one of the dataset's ``pipeline_splits`` (default: its first,
    ``"documented"``; spoken_digit also has ``"speaker:<name>"``). ``options`` go to the
    dataset's pipeline builder (spoken_digit takes ``recordings=``, to skip reading them again).
    """
    spec = get_spec(dataset)
    arguments = dict(split=spec.check_split(split), batch_size=batch_size, seed=seed, **options)
    try:
        inspect.signature(spec.pipelines).bind(**arguments)
    except TypeError as exc:
        raise ValueError(f"{dataset}'s pipelines do not take {sorted(options)}: {exc}") from None
    return spec.pipelines(**arguments)


__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DatasetUnavailable",
    "SampleDataWarning",
    "TfdsSource",
    "download",
    "fetch",
    "format_status",
    "get_spec",
    "load",
    "locate",
    "names",
    "pipelines",
    "register",
    "search_dirs",
    "source",
    "status",
    "unregister",
]

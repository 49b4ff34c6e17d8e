"""Data layer: the only code that knows where data comes from (see ``core`` and ``samples``).

Pipelines per modality: ``images`` (chapters 01-02), ``speech`` (03-04), ``text`` (05).

    from swtwo_tf import datasets
    train = datasets.load("mnist", "train", as_supervised=True)
    data = datasets.pipelines("spoken_digit", split="speaker:theo", batch_size=32)
"""

from swtwo_tf.datasets.core import (
    DATASETS,
    DatasetSpec,
    DatasetUnavailable,
    SampleDataWarning,
    fetch,
    get_spec,
    load,
    locate,
    search_dirs,
    source,
    status,
)

#: The datasets the chapters train on, by pipeline module.
PIPELINES = {"mnist": "images", "fashion_mnist": "images", "spoken_digit": "speech",
             "imdb_reviews": "text"}


def pipelines(dataset: str, *, split: str = "documented", batch_size: int = 64, seed: int = 42,
              recordings=None):
    """Train/validation/test pipelines of any course dataset, by name.

    One entry point for ``training.train_recipe``, ``swtwo evaluate``/``export`` and
    ``benchmarks/deploy.py``: ``images.image_datasets`` for mnist and fashion_mnist,
    ``speech.speech_datasets(split, rec=recordings)`` for spoken_digit (``split`` is
    ``"documented"`` or ``"speaker:<name>"``), ``text.text_datasets`` for imdb_reviews.
    """
    if dataset not in PIPELINES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(PIPELINES)}")
    if PIPELINES[dataset] == "speech":
        from swtwo_tf.datasets import speech
        return speech.speech_datasets(split, batch_size=batch_size, seed=seed, rec=recordings)
    if split != "documented":
        raise ValueError(f"split {split!r} applies to spoken_digit only; {dataset} has one split")
    if PIPELINES[dataset] == "text":
        from swtwo_tf.datasets import text
        return text.text_datasets(batch_size=batch_size, seed=seed)
    from swtwo_tf.datasets import images
    return images.image_datasets(dataset, batch_size=batch_size, seed=seed)


__all__ = [
    "PIPELINES",
    "DATASETS",
    "DatasetSpec",
    "DatasetUnavailable",
    "SampleDataWarning",
    "fetch",
    "get_spec",
    "load",
    "locate",
    "pipelines",
    "search_dirs",
    "source",
    "status",
]

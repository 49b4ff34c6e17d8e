"""Data layer: the only code that knows where data comes from (see ``core`` and ``samples``).

Pipelines per modality: ``images`` (chapters 01-02), ``speech`` (03-04), ``text`` (05).

    from swtwo_tf import datasets
    train = datasets.load("mnist", "train", as_supervised=True)
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

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DatasetUnavailable",
    "SampleDataWarning",
    "fetch",
    "get_spec",
    "load",
    "locate",
    "search_dirs",
    "source",
    "status",
]

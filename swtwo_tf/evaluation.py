"""Metrics and the record of what a chapter reached (``record_results`` from chapter 00 on).

``make course`` collects the recorded results into each chapter's one-page summary.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from swtwo_tf import config


def results_dir() -> Path:
    """Folder of the per-chapter results files (``build/results``)."""
    return config.build_dir() / "results"


def record_results(chapter: str, metrics: dict, *, notes: str = "") -> Path:
    """Write a chapter's headline numbers to ``build/results/<chapter>.json`` atomically.

    ``metrics`` maps names to numbers or short strings. The file also records the mode
    (quick/full), the time, and the machine, so a number is never read without its context.
    Returns the path written.
    """
    if not chapter or not isinstance(chapter, str):
        raise ValueError(f"chapter must be a non-empty string, got {chapter!r}")
    clean = {}
    for key, value in metrics.items():
        if hasattr(value, "item"):  # numpy / tensor scalars
            value = value.item()
        if not isinstance(value, int | float | str | bool):
            raise TypeError(f"metric {key!r} must be a number or string, got {type(value)}")
        clean[key] = value
    record = {
        "chapter": chapter,
        "mode": config.mode_name(),
        "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_cores": os.cpu_count(),
        "metrics": clean,
        "notes": notes,
    }
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.json"
    fd, tmp = tempfile.mkstemp(suffix=".json", dir=folder)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, path)
    return path

"""Writing files so that a failed or interrupted run never leaves a half-written one.

Everything the kit writes (models, checkpoints, TFLite files, results, reports) goes through
:func:`atomic_save`: the content is written to a temporary name beside the target and then
renamed over it, which the operating system does in one step. A reader sees the old file or
the new one, never a mix; a crash mid-write leaves the old file intact and no temporary file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def atomic_save(path: str | os.PathLike, save: Callable[[Path], object]) -> Path:
    """Call ``save(tmp)`` to write a file or folder at a temporary path, then rename it to
    ``path``.

    The temporary path is a hidden sibling with the same suffix (Keras wants ``.keras``), so
    the rename never crosses file systems. Files are made readable by everyone (0644), like
    any file the user writes. A folder target must not exist yet. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial{path.suffix}")
    _remove(tmp)
    try:
        save(tmp)
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to {tmp} for {path}")
        if tmp.is_file():
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        _remove(tmp)
    return path


def atomic_write(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8, or bytes) to ``path`` atomically; returns ``path``."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return atomic_save(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: str | os.PathLike, data) -> Path:
    """``data`` as indented JSON at ``path``, atomically."""
    return atomic_write(path, json.dumps(data, indent=2) + "\n")

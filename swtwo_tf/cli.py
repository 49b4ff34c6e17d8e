"""The ``swtwo`` command: datasets status/download, environment check, course run.

    swtwo datasets status            which datasets are ready, where, with split sizes
    swtwo datasets download mnist    fetch and prepare a dataset once (needs network)
    swtwo env                        versions, CPU/GPU, quick/full mode
    swtwo course                     run every chapter headless (what `make course` does)

Errors a user can fix (a missing dataset, no network, a bad name) print one clear message
and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.datasets import core


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def format_status(rows: list[dict]) -> str:
    """The ``swtwo datasets status`` table (also printed by chapter 00)."""
    searched = ", ".join(rows[0]["searched"]) if rows else ""
    lines = [f"Datasets (folders searched, in order: {searched})", ""]
    header = f"{'dataset':<14} {'status':<8} {'splits':<52} {'size':>7}"
    lines += [header, "-" * len(header)]
    for row in rows:
        if row["available"]:
            splits = " / ".join(f"{k} {v:,}" for k, v in row["splits"].items())
            lines.append(f"{row['name']:<14} {'ready':<8} {splits:<52} "
                         f"{_human(row['bytes']):>7}")
            lines.append(f"{'':<14} in {row['folder']}")
        else:
            lines.append(f"{row['name']:<14} {'MISSING':<8} get it with: "
                         f"{row['download_command']}")
            if row["sample"]:
                lines.append(f"{'':<14} until then chapters use the offline sample "
                             f"{row['sample']}")
    return "\n".join(lines)


def environment_report() -> str:
    """Versions, hardware, mode and datasets in one text block (chapter 00's setup check)."""
    env = config.environment()
    gpus = ", ".join(env["gpus"]) or "none (CPU only: every chapter is sized for this)"
    lines = [
        f"Python {env['python']} | TensorFlow {env['tensorflow']} | Keras {env['keras']} | "
        f"TFDS {env['tensorflow_datasets']} | NumPy {env['numpy']}",
        f"Machine: {env['platform']}, {env['cpu_cores']} CPU cores, GPU: {gpus}",
        f"Mode: {env['mode']}"
        + (" (SWTWO_QUICK=1: short runs for tests)" if env["mode"] == "quick" else
           " (chapters train to their stated accuracy)"),
        "",
        format_status(core.status()),
    ]
    return "\n".join(lines)


def _datasets_status(args) -> int:
    rows = core.status(args.data_dir)
    print(json.dumps(rows, indent=2) if args.json else format_status(rows))
    return 0


def _datasets_download(args) -> int:
    for name in args.names:
        core.get_spec(name)  # fail on a typo before any download starts
    for name in args.names:
        found = core.locate(name, args.data_dir)
        if found is not None:
            print(f"{name}: already prepared in {found / core.get_spec(name).folder}")
            continue
        print(f"{name}: downloading and preparing into {core.search_dirs(args.data_dir)[0]}"
              " (progress below) ...", flush=True)
        folder = core.fetch(name, args.data_dir)
        sizes = core.split_sizes(name, folder)
        print(f"{name}: ready ({', '.join(f'{k} {v:,}' for k, v in sizes.items())})")
    return 0


def _env(args) -> int:
    print(environment_report())
    return 0


def _course(args) -> int:
    from swtwo_tf import course

    notebooks = [Path(p) for p in args.notebooks] or course.chapter_notebooks()
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise ValueError(f"notebook not found: {', '.join(missing)}")
    if not notebooks:
        raise ValueError("no chapters found: expected notebooks/NN_topic.ipynb files")
    failures = course.run(notebooks, Path(args.out), quick=args.quick, timeout=args.timeout)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swtwo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    ds = commands.add_parser("datasets", help="see and fetch the course datasets")
    ds_commands = ds.add_subparsers(dest="action", required=True)
    st = ds_commands.add_parser("status", help="which datasets are available where")
    st.add_argument("--data-dir", help="look only in this TFDS data folder")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.set_defaults(func=_datasets_status)
    dl = ds_commands.add_parser("download", help="download and prepare datasets (online)")
    dl.add_argument("names", nargs="+", metavar="NAME", help=", ".join(core.DATASETS))
    dl.add_argument("--data-dir", help="prepare into this folder (default: $TFDS_DATA_DIR "
                    "or ~/tensorflow_datasets)")
    dl.set_defaults(func=_datasets_download)

    env = commands.add_parser("env", help="versions, CPU/GPU, mode and datasets")
    env.set_defaults(func=_env)

    co = commands.add_parser("course", help="execute the chapters headless, write summaries")
    co.add_argument("notebooks", nargs="*", help="chapters to run (default: all, in order)")
    co.add_argument("--out", default=str(config.REPO_ROOT / "build"),
                    help="output folder (default: build/)")
    co.add_argument("--quick", action="store_true", help="quick mode (SWTWO_QUICK=1)")
    co.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    co.set_defaults(func=_course)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (core.DatasetUnavailable, ValueError) as exc:
        print(f"swtwo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("swtwo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

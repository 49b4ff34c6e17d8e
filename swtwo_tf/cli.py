"""The ``swtwo`` command: datasets, environment check, course run, and your own models.

    swtwo datasets status            which datasets are ready, where, with split sizes
    swtwo datasets download mnist    fetch and prepare a dataset once (needs network)
    swtwo env                        versions, CPU/GPU, quick/full mode
    swtwo course                     run every chapter headless (what `make course` does)
    swtwo train mnist --out runs/m   train a recipe, resumable; model + metrics.json in --out
    swtwo evaluate runs/m/model.keras --dataset mnist
    swtwo predict runs/m/model.keras digit.png    (PNG/JPEG, WAV, --text or .txt files)
    swtwo export runs/m/model.keras --format tflite-int8   (then predict with the .tflite)

Errors a user can fix (a missing dataset, no network, a bad name, a file of the wrong kind)
print one clear message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swtwo_tf import config, datasets
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


#: The model ``swtwo train DATASET`` trains when ``--model`` is not given.
DEFAULT_MODELS = {"mnist": "convnet", "fashion_mnist": "convnet",
                  "spoken_digit": "rnn_classifier", "imdb_reviews": "nb_ngrams"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _train(args) -> int:
    import os

    import keras

    from swtwo_tf import deploy, training

    if args.quick:
        os.environ["SWTWO_QUICK"] = "1"
    model_name = args.model or DEFAULT_MODELS[args.dataset]
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    out = Path(args.out or config.REPO_ROOT / "runs" / f"{args.dataset}_{model_name}")
    out.mkdir(parents=True, exist_ok=True)
    backup = out / "backup"
    resume = backup.is_dir()
    if resume:
        print(f"resuming from the last finished epoch saved in {backup}", flush=True)
    options = {"split": args.split} if args.dataset == "spoken_digit" else {}
    model, history, data = training.train_recipe(
        args.dataset, model_name, seed=args.seed, epochs=args.epochs,
        callbacks=[keras.callbacks.BackupAndRestore(str(backup))],
        checkpoint=out / "best.keras", resume=resume, **options)
    metrics = model.evaluate(data.test, verbose=0, return_dict=True)
    # A resumed run's History holds only the epochs it ran; the backup counted them all.
    epochs_done = len(history.history["loss"]) + (history.epoch[0] if history.epoch else 0)
    path = out / "model.keras"
    tmp = out / "model.tmp.keras"
    model.save(tmp)
    tmp.replace(path)
    lite = None
    if deploy.input_kind(model) != "text":  # the fast start-up path of swtwo predict
        lite = deploy.save_bytes(deploy.to_tflite(model, "float32"), out / "model.tflite")
    report = {"dataset": args.dataset, "model": model_name, **options,
              "class_names": list(data.class_names), "epochs": epochs_done,
              "test_accuracy": round(float(metrics["accuracy"]), 4),
              "test_loss": round(float(metrics["loss"]), 4),
              "train_seconds": round(history.seconds, 1), "mode": config.mode_name(),
              "data_source": data.source}
    _write_json(out / "metrics.json", report)
    print(f"test accuracy {report['test_accuracy']:.2%} after {epochs_done} epochs "
          f"({report['train_seconds']:.0f} s); model: {path}"
          + (f" (and {lite.name}, for a fast swtwo predict)" if lite else "")
          + f"; metrics: {out / 'metrics.json'}")
    return 0


def load_model(path: str | Path):
    """A trained model and the metadata ``swtwo train`` wrote beside it (``metrics.json``, or
    ``{}``). A ``.keras`` file loads in Keras safe mode; a ``.tflite`` file loads on the LiteRT
    interpreter without importing TensorFlow (``deploy.TFLiteModel``, the fast path of
    ``swtwo predict``). ``ValueError`` naming the file otherwise."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file (expected a trained .keras or .tflite model)")
    meta_path = path.parent / "metrics.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if path.suffix == ".tflite":
        from swtwo_tf.deploy import TFLiteModel
        return TFLiteModel(path), meta
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a Keras model file (expected a .keras file saved by "
                         "model.save or swtwo train, or a .tflite file from swtwo export)")
    import keras

    import swtwo_tf.features.audio  # noqa: F401  (registers the custom layers)
    import swtwo_tf.models.text  # noqa: F401
    import swtwo_tf.models.vision  # noqa: F401
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a damaged archive
        raise ValueError(f"{path}: cannot be loaded as a Keras model "
                         f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None
    return model, meta


DEFAULT_CLASS_NAMES = {"text": ["negative", "positive"], "audio": [str(d) for d in range(10)],
                       "image": [str(d) for d in range(10)]}


def predict_rows(model, meta: dict, files: list[str], texts: list[str], top_k: int) -> list:
    """One row per input: ``input``, ``label``, ``probability``, ``top`` [(label, p), ...]."""
    import numpy as np

    from swtwo_tf.deploy import TFLiteModel, input_kind

    kind = input_kind(model)
    names = meta.get("class_names") or DEFAULT_CLASS_NAMES[kind]
    inputs, arrays = [], []
    if texts and kind != "text":
        raise ValueError(f"--text given, but the model takes {kind} input, not text")
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        suffix = path.suffix.lower()
        expected = {"image": IMAGE_SUFFIXES, "audio": (".wav",), "text": (".txt",)}[kind]
        if suffix not in expected:
            raise ValueError(f"{path}: the model takes {kind} input; expected a "
                             f"{'/'.join(e.lstrip('.').upper() for e in expected)} file")
        if kind == "image":
            from swtwo_tf.datasets.images import load_image_file
            arrays.append(load_image_file(path))
        elif kind == "audio":
            from swtwo_tf.datasets import speech
            wave = speech.load_wav(path)
            if len(wave) > speech.LENGTH:
                raise speech.AudioFileError(
                    f"{path}: {len(wave) / speech.SAMPLE_RATE:.2f} s of speech after trimming "
                    f"silence; the model hears at most {speech.LENGTH / speech.SAMPLE_RATE:g} s")
            arrays.append(speech.fix_length(wave))
        else:
            try:
                texts = [*texts, path.read_text(encoding="utf-8")]
            except UnicodeDecodeError:
                raise ValueError(f"{path}: not UTF-8 text") from None
            continue
        inputs.append(str(path))
    if kind == "text":
        from swtwo_tf.datasets.text import check_sentences
        arrays = check_sentences(texts)
        inputs = [t if len(t) <= 60 else t[:57] + "..." for t in arrays]
    if not inputs:
        raise ValueError("nothing to predict: give files, or --text for a text model")
    x = np.array(arrays, dtype=object) if kind == "text" else np.stack(arrays)
    if isinstance(model, TFLiteModel):
        probabilities = model.predict(x)
    else:
        probabilities = np.asarray(model.predict(x, batch_size=64, verbose=0))
    rows = []
    for item, p in zip(inputs, probabilities, strict=True):
        order = np.argsort(-p)[:top_k]
        rows.append({"input": item, "label": names[order[0]], "probability": float(p[order[0]]),
                     "top": [(names[i], float(p[i])) for i in order]})
    return rows


def _predict(args) -> int:
    model, meta = load_model(args.model)
    rows = predict_rows(model, meta, args.files, args.text or [], args.top_k)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["input"]) for r in rows)
        for r in rows:
            top = ", ".join(f"{label} {p:.1%}" for label, p in r["top"])
            print(f"{r['input']:<{width}}  {r['label']:<12} ({top})")
    return 0


def _check_dataset(model_path, kind: str, dataset: str) -> None:
    expected = {"image": ("mnist", "fashion_mnist"), "audio": ("spoken_digit",),
                "text": ("imdb_reviews",)}[kind]
    if dataset not in expected:
        raise ValueError(f"{model_path}: a model for {kind} input cannot be used with "
                         f"{dataset}; expected {' or '.join(expected)}")


def _evaluate(args) -> int:
    import numpy as np

    from swtwo_tf.deploy import TFLiteModel, input_kind, test_arrays

    model, meta = load_model(args.model)
    _check_dataset(args.model, input_kind(model), args.dataset)
    data = datasets.pipelines(args.dataset, split=args.split, batch_size=256)
    if isinstance(model, TFLiteModel):
        x, y = test_arrays(data.test)
        accuracy = float(np.mean(model.predict(x).argmax(-1) == y))
    else:
        if not model.compiled:
            model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        accuracy = float(model.evaluate(data.test, verbose=0, return_dict=True)["accuracy"])
    report = {"model": str(args.model), "dataset": args.dataset, "examples": data.sizes["test"],
              "test_accuracy": round(accuracy, 4),
              "data_source": data.source, "mode": config.mode_name()}
    print(json.dumps(report, indent=2) if args.json else
          f"{args.dataset} test set ({report['examples']:,} examples, {data.source}): "
          f"accuracy {report['test_accuracy']:.2%}")
    return 0


#: ``swtwo export --format`` -> (TFLite variant or None, file name beside the model).
EXPORT_FORMATS = {"keras": (None, "model_export.keras"), "savedmodel": (None, "savedmodel"),
                  "tflite": ("float32", "model.tflite"),
                  "tflite-dynamic": ("dynamic", "model_dynamic.tflite"),
                  "tflite-int8": ("int8", "model_int8.tflite")}


def _export(args) -> int:
    from swtwo_tf import deploy

    model, meta = load_model(args.model)
    if isinstance(model, deploy.TFLiteModel):
        raise ValueError(f"{args.model}: already a TFLite model; export from the .keras file")
    variant, default_name = EXPORT_FORMATS[args.format]
    out = Path(args.out) if args.out else Path(args.model).parent / default_name
    kind = deploy.input_kind(model)
    if args.format == "keras":
        tmp = out.with_name(out.stem + ".tmp.keras")
        model.save(tmp)
        tmp.replace(out)
    elif args.format == "savedmodel":
        deploy.export_savedmodel(model, out)
    else:
        if kind == "text":
            raise ValueError(f"{args.model}: a text model takes strings and TFLite has no "
                             "string ops; export it with --format savedmodel (chapter 06 "
                             "converts its numeric part)")
        representative = None
        if variant == "int8" and not deploy.is_recurrent(model):
            dataset = args.dataset or meta.get("dataset")
            if not dataset:
                raise ValueError(f"{args.model}: int8 needs training inputs to calibrate; "
                                 "pass --dataset NAME (no metrics.json beside the model)")
            _check_dataset(args.model, kind, dataset)
            options = {"split": meta.get("split", "documented")} if kind == "audio" else {}
            data = datasets.pipelines(dataset, **options)
            print(f"calibrating int8 ranges on {deploy.CALIBRATION_SAMPLES} {dataset} "
                  "training inputs ...", flush=True)
            representative = deploy.representative_inputs(data.train)
        print(f"converting to TFLite {variant} ...", flush=True)
        deploy.save_bytes(deploy.to_tflite(model, variant, representative=representative), out)
    size = (sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.is_dir()
            else out.stat().st_size)
    print(f"{args.format}: {out} ({size / 1e3:,.0f} KB)")
    return 0


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

    tr = commands.add_parser("train", help="train a recipe; resumable; writes model + metrics")
    tr.add_argument("dataset", choices=list(DEFAULT_MODELS))
    tr.add_argument("--model", help="recipe name (default: " + ", ".join(
        f"{d} {m}" for d, m in DEFAULT_MODELS.items()) + ")")
    tr.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    tr.add_argument("--split", default="documented",
                    help="spoken_digit only: documented or speaker:<name>")
    tr.add_argument("--quick", action="store_true", help="quick mode (SWTWO_QUICK=1)")
    tr.add_argument("--seed", type=int, default=42)
    tr.add_argument("--out", help="output folder (default: runs/<dataset>_<model>); an "
                    "interrupted run in the same folder resumes from its last epoch")
    tr.set_defaults(func=_train)

    ev = commands.add_parser("evaluate", help="test accuracy of a trained model")
    ev.add_argument("model", help="a .keras or .tflite file")
    ev.add_argument("--dataset", required=True, choices=list(DEFAULT_MODELS))
    ev.add_argument("--split", default="documented", help="spoken_digit only")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_evaluate)

    pr = commands.add_parser("predict", help="classify your own images, WAV files or text")
    pr.add_argument("model", help="a .keras file, or a .tflite file (fast start-up)")
    pr.add_argument("files", nargs="*", help="PNG/JPEG images, WAV recordings or .txt files")
    pr.add_argument("--text", action="append", help="a sentence to classify (repeatable)")
    pr.add_argument("--top-k", type=int, default=3, help="labels to show per input")
    pr.add_argument("--json", action="store_true", help="print JSON")
    pr.set_defaults(func=_predict)

    ex = commands.add_parser("export", help="export a trained model: .keras, SavedModel, TFLite")
    ex.add_argument("model", help="a .keras file")
    ex.add_argument("--format", required=True, choices=list(EXPORT_FORMATS),
                    help="tflite-dynamic: int8 weights; tflite-int8: full-integer, "
                    "calibrated on training data")
    ex.add_argument("--out", help="output file or folder (default: beside the model: "
                    + ", ".join(name for _, name in EXPORT_FORMATS.values()) + ")")
    ex.add_argument("--dataset", choices=list(DEFAULT_MODELS),
                    help="tflite-int8: calibration data (default: from metrics.json)")
    ex.set_defaults(func=_export)
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

"""The ``swtwo`` command: datasets, environment check, course run, and your own models.

    swtwo datasets status            which datasets are ready, where, with split sizes
    swtwo datasets download mnist    fetch and prepare a dataset once (needs network)
    swtwo env                        versions, CPU/GPU, quick/full mode
    swtwo course                     run every chapter headless (what `make course` does)
    swtwo course notebooks/03_*.ipynb    run only the chapters named
    swtwo train mnist --out runs/m   train a recipe, resumable; model + metrics.json in --out
    swtwo train mnist --workers 2    the same recipe on 2 worker processes (tf.distribute)
    swtwo manifest mnist --workers 3 --image IMAGE   the same job as a Kubernetes Indexed Job
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

from swtwo_tf import config, datasets, distribute
from swtwo_tf.datasets import core
from swtwo_tf.deploy.export import EXPORT_FORMATS


def _datasets_status(args) -> int:
    rows = core.status(args.data_dir)
    print(json.dumps(rows, indent=2) if args.json else core.format_status(rows))
    return 0


def _datasets_download(args) -> int:
    core.download(args.names, args.data_dir, log=lambda line: print(line, flush=True))
    return 0


def _env(args) -> int:
    from swtwo_tf import course

    print(course.environment_report())
    return 0


def _course(args) -> int:
    from swtwo_tf import course

    if args.timeout is not None and args.timeout <= 0:
        raise ValueError(f"--timeout: expected a positive number of seconds, got {args.timeout}")
    notebooks = [Path(p) for p in args.notebooks] or course.chapter_notebooks()
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise ValueError(f"notebook not found: {', '.join(missing)}")
    if not notebooks:
        raise ValueError("no chapters found: expected notebooks/NN_topic.ipynb files")
    failures = course.run(notebooks, Path(args.out), quick=args.quick,
                          timeout=args.timeout or course.CELL_TIMEOUT)
    return 1 if failures else 0


def _train(args) -> int:
    import os

    from swtwo_tf import deploy

    if args.quick:
        os.environ["SWTWO_QUICK"] = "1"
    model_name = args.model or datasets.get_spec(args.dataset).default_model
    if args.workers is not None:
        return _train_workers(args, model_name)
    if args.port is not None or args.threads is not None:
        raise ValueError("--port and --threads go with --workers N")
    out = args.out or config.REPO_ROOT / "runs" / f"{args.dataset}_{model_name}"
    report = deploy.train_run(args.dataset, model_name, out, seed=args.seed, split=args.split,
                              epochs=args.epochs)
    lite = report["tflite_path"]
    score = (f"test accuracy {report['test_accuracy']:.2%}" if "test_accuracy" in report
             else f"test digit error rate {report['test_der']:.2%}")
    print(f"{score} after {report['epochs']} epochs "
          f"({report['train_seconds']:.0f} s); model: {report['model_path']}"
          + (f" (and {lite.name}, for a fast swtwo predict)" if lite else "")
          + f"; metrics: {Path(out) / 'metrics.json'}")
    return 0


def _train_workers(args, model_name: str) -> int:
    if args.split:
        raise ValueError("--workers trains on the default split; leave out --split")
    out = args.out or config.REPO_ROOT / "runs" / f"{args.dataset}_{model_name}_{args.workers}w"
    report = distribute.launch(args.dataset, model_name, out, workers=args.workers,
                               seed=args.seed, epochs=args.epochs, port=args.port,
                               threads=args.threads, log=lambda line: print(line, flush=True))
    print(f"test accuracy {report['test_accuracy']:.2%} after {report['epochs']} epochs on "
          f"{report['workers']} worker(s) ({report['wall_seconds']:.0f} s, "
          f"{report['restarts']} restart(s)); model: {Path(out) / 'model.keras'}; "
          f"metrics: {Path(out) / 'metrics.json'}; logs: {Path(out) / 'logs'}")
    return 0


def _manifest(args) -> int:
    model_name = args.model or datasets.get_spec(args.dataset).default_model
    items = distribute.kubernetes_manifest(args.workers, image=args.image, dataset=args.dataset,
                                           model_name=model_name, port=args.port)
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
    return 0


def _predict(args) -> int:
    from swtwo_tf import tables
    from swtwo_tf.deploy import predict

    model, meta = predict.load_model(args.model)
    kind = predict.input_kind(model)
    if kind == "digit strings":
        raise ValueError(f"{args.model} recognises strings of digits: use "
                         f"swtwo transcribe FILE.wav --model {args.model}")
    if args.text and kind != "text":
        raise ValueError(f"--text given, but the model takes {kind} input, not text")
    # A --text string is the text itself; a file of a text model is read from disk.
    files = [Path(f) for f in args.files] if kind == "text" else args.files
    rows = predict.classify(model, [*(args.text or []), *files], top_k=args.top_k,
                            class_names=predict.class_names_for(model, meta, args.dataset))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    shown = [r["input"] if len(r["input"]) <= 60 or i >= len(args.text or [])
             else r["input"][:57] + "..." for i, r in enumerate(rows)]  # cut long sentences
    print(tables.format_table(
        ["input", "label", "top"],
        [[name, r["label"], ", ".join(f"{label} {p:.1%}" for label, p in r["top"])]
         for name, r in zip(shown, rows, strict=True)], align="lll"))
    return 0


def _transcribe(args) -> int:
    from swtwo_tf.deploy import predict, stream

    name = "ctc_streaming" if args.stream else "ctc_bidirectional"
    path = Path(args.model or config.REPO_ROOT / "runs" / f"digit_strings_{name}" / "model.keras")
    if args.model is None and not path.is_file():
        raise ValueError(f"no trained model at {path}: train one with swtwo train "
                         f"digit_strings --model {name}, or pass --model FILE.keras")
    model, _ = predict.load_model(path)
    if predict.input_kind(model) != "digit strings":
        raise ValueError(f"{path} is not a digit-string recogniser (swtwo train digit_strings)")
    result = stream.transcribe_file(model, args.file, streaming=args.stream)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.file}: {result['digits'] or '(no digits heard)'}")
    for word in result["words"]:
        printed = f"  printed at {word['printed']:.2f} s" if "printed" in word else ""
        print(f"  {word['digit']}  {word['start']:6.2f} - {word['end']:.2f} s{printed}")
    return 0


def _evaluate(args) -> int:
    from swtwo_tf import deploy

    model, _ = deploy.load_model(args.model)
    deploy.check_dataset(model, args.dataset)
    if deploy.input_kind(model) == "digit strings":  # chapter 08: a digit error rate
        return _evaluate_strings(args, model)
    data = datasets.pipelines(args.dataset, split=args.split, batch_size=256)
    report = {"model": str(args.model), "dataset": args.dataset, "examples": data.sizes["test"],
              "test_accuracy": round(deploy.accuracy(model, data.test), 4),
              "data_source": data.source, "mode": config.mode_name()}
    print(json.dumps(report, indent=2) if args.json else
          f"{args.dataset} test set ({report['examples']:,} examples, {data.source}): "
          f"accuracy {report['test_accuracy']:.2%}")
    return 0


def _evaluate_strings(args, model) -> int:
    from swtwo_tf import evaluation
    from swtwo_tf.models import ctc

    data = datasets.pipelines(args.dataset, split=args.split, batch_size=32)
    truth = ["".join(map(str, d)) for d in data.test_strings.digits]
    errors = evaluation.transcription_errors(truth, ctc.transcribe(model, data.test_strings.waves))
    report = {"model": str(args.model), "dataset": args.dataset, "examples": data.sizes["test"],
              **{f"test_{k}": round(v, 4) if isinstance(v, float) else v
                 for k, v in errors.items()},
              "data_source": data.source, "mode": config.mode_name()}
    print(json.dumps(report, indent=2) if args.json else
          f"{args.dataset} test strings ({report['examples']:,}, {data.source}): digit error "
          f"rate {errors['der']:.2%} (greedy), {errors['string_accuracy']:.1%} strings exact")
    return 0


def _export(args) -> int:
    from swtwo_tf import deploy

    model, meta = deploy.load_model(args.model)
    if isinstance(model, deploy.TFLiteModel):
        raise ValueError(f"{args.model}: already a TFLite model; export from the .keras file")
    if args.format.startswith("tflite") and deploy.input_kind(model) == "text":
        raise ValueError(f"{args.model}: a text model takes strings and TFLite has no "
                         "string ops; export it with --format savedmodel (chapter 06 "
                         "converts its numeric part)")
    out = Path(args.out or Path(args.model).parent / EXPORT_FORMATS[args.format][1])
    deploy.export(model, args.format, out, dataset=args.dataset or meta.get("dataset"),
                  split=meta.get("split"), log=lambda line: print(line, flush=True))
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
    dl.add_argument("names", nargs="+", metavar="NAME", help=", ".join(datasets.names(real=True)))
    dl.add_argument("--data-dir", help="prepare into this folder (default: $TFDS_DATA_DIR "
                    "or ~/tensorflow_datasets)")
    dl.set_defaults(func=_datasets_download)

    env = commands.add_parser("env", help="versions, CPU/GPU, mode and datasets")
    env.set_defaults(func=_env)

    co = commands.add_parser(
        "course", help="execute the chapters headless, write summaries",
        description="Execute chapters headless into --out (executed notebooks and a summary "
                    "page each). A full-mode run also records each course chapter's status, "
                    "wall and CPU time and CPU in benchmarks/results/course.json, replacing "
                    "only the chapters it ran.")
    co.add_argument("notebooks", nargs="*", help="chapters to run (default: all, in order)")
    co.add_argument("--out", default=str(config.REPO_ROOT / "build"),
                    help="output folder (default: build/)")
    co.add_argument("--quick", action="store_true", help="quick mode (SWTWO_QUICK=1)")
    co.add_argument("--timeout", type=int, default=None,
                    help="seconds allowed per cell (default: 4 hours)")
    co.set_defaults(func=_course)

    # a fused model (seen_and_heard, image+audio) is built from two trained models (chapter 10)
    trainable = [n for n in datasets.names() if datasets.get_spec(n).default_model
                 and "+" not in datasets.get_spec(n).modality]
    tr = commands.add_parser("train", help="train a recipe; resumable; writes model + metrics")
    tr.add_argument("dataset", choices=trainable)
    tr.add_argument("--model", help="recipe name (default: " + ", ".join(
        f"{d} {datasets.get_spec(d).default_model}" for d in trainable) + ")")
    tr.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    tr.add_argument("--split", help="evaluation split (default: documented; spoken_digit "
                    "also speaker:<name>)")
    tr.add_argument("--quick", action="store_true", help="quick mode (SWTWO_QUICK=1)")
    tr.add_argument("--seed", type=int, default=42)
    tr.add_argument("--out", help="output folder (default: runs/<dataset>_<model>); an "
                    "interrupted run in the same folder resumes from its last epoch")
    tr.add_argument("--workers", type=int, help="train with N worker processes on this "
                    "machine (tf.distribute.MultiWorkerMirroredStrategy; chapter 11)")
    tr.add_argument("--port", type=int, help="with --workers: worker i listens on PORT+i "
                    "(default: free ports)")
    tr.add_argument("--threads", type=int, help="with --workers: CPU threads per worker "
                    "(default: the cores shared out)")
    tr.set_defaults(func=_train)

    ma = commands.add_parser("manifest", help="print a Kubernetes Indexed Job (JSON, for "
                             "kubectl apply -f) that trains a recipe on N worker pods")
    ma.add_argument("dataset", choices=trainable)
    ma.add_argument("--model", help="recipe name (default: the dataset's)")
    ma.add_argument("--workers", type=int, required=True, help="worker pods")
    ma.add_argument("--image", required=True, help="a container image with the kit installed")
    ma.add_argument("--port", type=int, default=12345, help="the workers' port (default 12345)")
    ma.set_defaults(func=_manifest)

    ev = commands.add_parser("evaluate", help="test accuracy of a trained model")
    ev.add_argument("model", help="a .keras or .tflite file")
    ev.add_argument("--dataset", required=True, choices=datasets.names())
    ev.add_argument("--split", help="evaluation split (default: documented)")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_evaluate)

    pr = commands.add_parser("predict", help="classify your own images, WAV files or text")
    pr.add_argument("model", help="a .keras file, or a .tflite file (fast start-up)")
    pr.add_argument("files", nargs="*", help="PNG/JPEG images, WAV recordings or .txt files "
                    "(a fused model: an image and a WAV per prediction, in that order)")
    pr.add_argument("--text", action="append", help="a sentence to classify (repeatable)")
    pr.add_argument("--dataset", choices=datasets.names(),
                    help="name the classes as this dataset does (default: from metrics.json)")
    pr.add_argument("--top-k", type=int, default=3, help="labels to show per input")
    pr.add_argument("--json", action="store_true", help="print JSON")
    pr.set_defaults(func=_predict)

    tc = commands.add_parser(
        "transcribe", help="the digits said in a WAV recording, with times (chapter 08)",
        description="Digits said in a WAV file (any rate, mono or stereo, up to "
                    "120 s), each with the time where the recogniser fired. --stream feeds "
                    "the audio in 160 ms chunks to the one-direction model, as a live "
                    "recogniser would, and says when each digit was printed.")
    tc.add_argument("file", help="a WAV recording")
    tc.add_argument("--model", help="a .keras digit-string recogniser (default: "
                    "runs/digit_strings_ctc_bidirectional/model.keras, or "
                    "runs/digit_strings_ctc_streaming/model.keras with --stream)")
    tc.add_argument("--stream", action="store_true", help="transcribe in chunks as it arrives")
    tc.add_argument("--json", action="store_true", help="print JSON")
    tc.set_defaults(func=_transcribe)

    ex = commands.add_parser("export", help="export a trained model: .keras, SavedModel, TFLite")
    ex.add_argument("model", help="a .keras file")
    ex.add_argument("--format", required=True, choices=list(EXPORT_FORMATS),
                    help="tflite-dynamic: int8 weights; tflite-int8: full-integer, "
                    "calibrated on training data")
    ex.add_argument("--out", help="output file or folder (default: beside the model: "
                    + ", ".join(name for _, name in EXPORT_FORMATS.values()) + ")")
    ex.add_argument("--dataset", choices=datasets.names(),
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
    except distribute.WorkerFailed as exc:
        print(f"swtwo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("swtwo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

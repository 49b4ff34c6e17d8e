"""The benchmark report: rows stamped with their command, merged across --only runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from swtwo_tf import config

sys.path.insert(0, str(config.REPO_ROOT / "benchmarks"))
import common  # noqa: E402


def _row(dataset, model, accuracy):
    return {"dataset": dataset, "model": model, "test_accuracy": accuracy,
            "train_seconds": 60.0, "epochs": 1, "batch_size": 32, "parameters": 10}


def test_only_runs_replace_their_rows_and_keep_the_others(tmp_path):
    out = tmp_path / "images.json"
    common.write_report([_row("mnist", "convnet", 0.99), _row("fashion_mnist", "convnet", 0.9)],
                        "python benchmarks/images.py", out)
    common.write_report([_row("fashion_mnist", "convnet", 0.93)],
                        "python benchmarks/images.py --only fashion_mnist", out)
    report = json.loads(out.read_text())
    rows = {(r["dataset"], r["model"]): r for r in report["results"]}
    assert len(rows) == 2
    assert rows[("mnist", "convnet")]["command"] == "python benchmarks/images.py"
    assert rows[("fashion_mnist", "convnet")]["test_accuracy"] == 0.93
    assert rows[("fashion_mnist", "convnet")]["command"].endswith("--only fashion_mnist")
    assert report["machine"]["cpu_cores"] >= 1 and not list(tmp_path.glob("*.tmp"))


def test_a_report_from_another_machine_is_replaced_whole(tmp_path):
    out = tmp_path / "text.json"
    out.write_text(json.dumps({"command": "x", "date": "2020-01-01", "machine": {"cpu_cores": 99},
                               "tensorflow": "0", "results": [_row("imdb_reviews", "old", 0.5)]}))
    common.write_report([_row("imdb_reviews", "new", 0.9)], "python benchmarks/text.py", out)
    assert [r["model"] for r in json.loads(out.read_text())["results"]] == ["new"]


def test_the_same_cpu_kind_on_another_processor_is_another_machine(tmp_path, monkeypatch):
    out = tmp_path / "deploy.json"
    monkeypatch.setattr(common, "cpu", lambda: {"cpu_model": "AMD EPYC", "cpu_flags": ["avx2"]})
    common.write_report([_row("mnist", "old", 0.5)], "python benchmarks/deploy.py", out)
    assert json.loads(out.read_text())["machine"]["cpu_flags"] == ["avx2"]
    monkeypatch.setattr(common, "cpu", lambda: {"cpu_model": "AMD EPYC",
                                                "cpu_flags": ["avx2", "avx512_vnni"]})
    common.write_report([_row("imdb_reviews", "new", 0.9)], "python benchmarks/deploy.py", out)
    assert [r["model"] for r in json.loads(out.read_text())["results"]] == ["new"]


def test_a_new_kernel_build_under_the_same_processor_keeps_the_rows(tmp_path, monkeypatch):
    out = tmp_path / "quick_mode.json"
    common.write_report([{"notebook": "00_welcome", "wall_seconds": 8.0}], "python q.py", out)
    report = json.loads(out.read_text())
    for machine in [report["machine"], *report["machines"].values()]:
        machine["platform"] = "Linux-an-older-kernel-build"
    out.write_text(json.dumps(report))
    common.write_report([{"notebook": "08_ctc", "wall_seconds": 60.0}], "python q.py --only", out)
    rows = json.loads(out.read_text())["results"]
    assert sorted(r["notebook"] for r in rows) == ["00_welcome", "08_ctc"]
    monkeypatch.setattr(common, "cpu", lambda: {"cpu_model": "Other", "cpu_flags": ["avx2"]})
    common.write_report([{"notebook": "08_ctc", "wall_seconds": 99.0}], "python q.py --only", out)
    kinds = {r["cpu_kind"] for r in json.loads(out.read_text())["results"]}
    assert "AVX2" in kinds


def test_rows_of_different_splits_are_kept_apart(tmp_path):
    out = tmp_path / "speech.json"
    rows = [{**_row("spoken_digit", "rnn", a), "split": s}
            for s, a in (("documented", 0.99), ("speaker:theo", 0.9))]
    common.write_report(rows, "python benchmarks/speech.py", out)
    common.write_report([{**_row("spoken_digit", "rnn", 0.95), "split": "speaker:theo"}],
                        "python benchmarks/speech.py --only rnn", out)
    report = json.loads(out.read_text())
    by_split = {r["split"]: r["test_accuracy"] for r in report["results"]}
    assert by_split == {"documented": 0.99, "speaker:theo": 0.95}


def test_a_second_benchmark_is_refused_while_one_runs(tmp_path):
    lock = tmp_path / "results" / ".benchmark.lock"
    common.hold_lock(lock)
    try:
        assert "pid" in lock.read_text()
        with pytest.raises(SystemExit, match=r"another benchmark is running \(pid \d+, "
                                             r"started .*\); two at once"):
            common.hold_lock(lock)
    finally:
        common._held.pop().close()
    common.hold_lock(lock)  # free again once the first has finished
    common._held.pop().close()


@pytest.mark.slow
def test_adabn_sets_each_batch_norm_to_its_inputs_statistics_in_order():
    import keras
    import numpy as np
    import speech_unseen

    inputs = keras.Input((3,))
    first = keras.layers.BatchNormalization()
    second = keras.layers.BatchNormalization()
    model = keras.Model(inputs, second(keras.layers.Dense(2)(first(inputs))))
    x = np.random.default_rng(0).normal(5.0, 2.0, (64, 3)).astype(np.float32)
    speech_unseen.adapt_batch_norm(model, x)
    np.testing.assert_allclose(first.moving_mean.numpy(), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), x.var(axis=0), rtol=1e-4)
    # The second layer sees the first one's adapted output: zero mean, unit variance, mixed.
    hidden = keras.Model(inputs, second.input).predict(x, verbose=0)
    np.testing.assert_allclose(np.abs(hidden.mean(axis=0)), 0.0, atol=1e-3)
    np.testing.assert_allclose(second.moving_mean.numpy(), hidden.mean(axis=0), atol=1e-5)


def test_rows_of_the_other_cpu_kind_stay_beside_this_kinds(tmp_path, monkeypatch):
    out = tmp_path / "images.json"
    monkeypatch.setattr(common, "cpu", lambda: {"cpu_model": "EPYC", "cpu_flags": ["avx2"]})
    common.write_report([_row("mnist", "convnet", 0.994), _row("mnist", "seed_cnn", 0.98)],
                        "python benchmarks/images.py", out)
    monkeypatch.setattr(common, "cpu", lambda: {"cpu_model": "EPYC",
                                                "cpu_flags": ["avx2", "avx512f"]})
    common.write_report([_row("mnist", "convnet", 0.996)], "python benchmarks/images.py", out)
    report = json.loads(out.read_text())
    rows = {(r["model"], r["cpu_kind"]): r["test_accuracy"] for r in report["results"]}
    assert rows == {("convnet", "AVX2"): 0.994, ("seed_cnn", "AVX2"): 0.98,
                    ("convnet", "AVX-512"): 0.996}
    assert report["machines"]["AVX2"]["cpu_flags"] == ["avx2"]
    assert report["machines"]["AVX-512"]["cpu_flags"] == ["avx2", "avx512f"]
    # back on the AVX2 CPU: its convnet row is replaced, the AVX-512 row stays
    monkeypatch.setattr(common, "cpu", lambda: {"cpu_model": "EPYC", "cpu_flags": ["avx2"]})
    common.write_report([_row("mnist", "convnet", 0.995)], "python benchmarks/images.py", out)
    rows = {(r["model"], r["cpu_kind"]): r["test_accuracy"]
            for r in json.loads(out.read_text())["results"]}
    assert rows == {("convnet", "AVX2"): 0.995, ("seed_cnn", "AVX2"): 0.98,
                    ("convnet", "AVX-512"): 0.996}


def test_the_chapters_read_the_row_of_their_own_cpu_kind(tmp_path, monkeypatch):
    from swtwo_tf import evaluation

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    machine = {"cpu_cores": 2, "gpus": 0}
    (tmp_path / "benchmarks" / "results" / "images.json").write_text(json.dumps({
        "command": "x", "date": "d", "machine": {**machine, "cpu_flags": ["avx2"]},
        "machines": {"AVX-512": {**machine, "cpu_flags": ["avx512f"]},
                     "AVX2": {**machine, "cpu_flags": ["avx2"]}},
        "results": [{**_row("mnist", "convnet", 0.996), "cpu_kind": "AVX-512"},
                    {**_row("mnist", "convnet", 0.994), "cpu_kind": "AVX2"}]}))
    monkeypatch.setattr(evaluation.config, "REPO_ROOT", tmp_path)
    for kind, accuracy in (("AVX2", 0.994), ("AVX-512", 0.996)):
        monkeypatch.setattr(evaluation.config, "cpu_kind", lambda flags=None, k=kind: k)
        row = evaluation.reference("images", "mnist", "convnet")
        assert row["test_accuracy"] == accuracy and row["cpu_kind"] == kind
        assert row["machine"]["cpu_flags"] == (["avx2"] if kind == "AVX2" else ["avx512f"])
        assert kind in evaluation.compare_with_benchmark("images", "mnist", {"convnet": 0.9})


def test_chapter_07_targets_read_the_rows_they_name():
    import modern_cnns

    rows = [
        {"dataset": "fashion_mnist", "model": "convnet", "test_accuracy": 0.9385,
         "train_cpu_seconds": 1000.0},
        {"dataset": "fashion_mnist", "model": "resnet", "test_accuracy": 0.946,
         "train_cpu_seconds": 900.0},
        {"dataset": "fashion_mnist", "model": "separable_net", "test_accuracy": 0.95,
         "train_cpu_seconds": 1200.0},  # the best, but slower than the convnet
        {"dataset": "fashion_mnist", "model": "task B", "split": "50 per class",
         "from scratch accuracy": 0.80, "fine-tuned accuracy": 0.91},
        {"dataset": "mnist", "model": "FixMatch", "test_accuracy": 0.975, "train_seconds": 950},
        {"dataset": "mnist", "model": "labels only", "test_accuracy": 0.93},
        {"dataset": "fashion_mnist", "model": "student distilled", "test_accuracy": 0.86,
         "parameters": 1000, "teacher_parameters": 6000},
        {"dataset": "fashion_mnist", "model": "student alone", "test_accuracy": 0.845},
    ]
    verdicts = [row[-1] for row in modern_cnns.targets(rows)]
    assert verdicts == ["NOT met", "met", "NOT met", "met"]  # best is too slow; FixMatch > 15 min
    rows[2]["test_accuracy"] = 0.94
    rows[4]["train_seconds"] = 800
    assert [row[-1] for row in modern_cnns.targets(rows)] == ["met"] * 4


def test_speech_views_score_per_digit_and_speaker_and_summaries_give_the_gap():
    import numpy as np
    import speech as speech_bench

    test = speech_bench.TestSets.__new__(speech_bench.TestSets)  # no recordings needed
    test.labels = np.array([0, 0, 1, 1, 2, 2])
    test.speakers = np.array(["a", "b", "a", "b", "a", "b"])
    views = test.views(heard=[0, 0, 1, 2, 2, 2], recorded=[0, 1, 1, 1, 2, 0])
    assert views["as_recorded_accuracy"] == 0.6667
    assert views["per_digit"]["1"] == 0.5 and views["per_digit"]["0"] == 1.0
    assert views["per_speaker"] == {"a": 1.0, "b": 0.6667}
    folds = [{**_row("spoken_digit", "m", a), "split": f"speaker:{s}", "as_recorded_accuracy": a}
             for s, a in (("a", 0.9), ("b", 0.7), ("c", 0.8))]
    summary = speech_bench.loso_summary(folds)
    assert summary["test_accuracy"] == 0.8 and summary["worst_speaker"] == "speaker:b"
    assert summary["speaker_gap"] == 0.2 and summary["as_recorded_accuracy"] == 0.8


def test_chapter_10_recall_target_ignores_the_steps_control():
    import multimodal as bench

    results = Path(__file__).parents[1] / "benchmarks" / "results"
    rows = [*json.loads((results / "multimodal.json").read_text())["results"],
            *json.loads((results / "multimodal_scratch.json").read_text())["results"]]
    control = {"dataset": "seen_and_heard", "split": "documented", "recall_at_1": 0.999,
               "model": "contrastive, encoders from scratch" + bench.CONTROL}

    def recall_row(rows):
        return next(r for r in bench.targets(rows) if r[1] == "recall@1 >= 95 %")

    before = recall_row(rows)
    assert recall_row([*rows, control]) == before  # a control is not a candidate
    assert bench.CONTROL not in before[2]

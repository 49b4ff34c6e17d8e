"""Chapter 11's package: the same training on several devices and several worker processes.

The fast tests check the cluster's addresses, the errors, the Kubernetes manifest and how a
global batch is cut. The slow ones run real jobs of worker processes on loopback (quick mode,
real MNIST): 1, 2 and 3 workers, a worker killed mid-epoch, Ctrl-C, a worker that keeps
failing; each checks that no process and no port is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import require_real

from swtwo_tf import cli, distribute
from swtwo_tf.datasets import core

REPO = Path(__file__).resolve().parents[1]


# --- addresses, errors, manifest (fast) ---------------------------------------------------


def test_tf_config_names_the_whole_cluster_and_this_task():
    hosts = ["127.0.0.1:2001", "127.0.0.1:2002"]
    assert distribute.tf_config(hosts, 1) == {
        "cluster": {"worker": hosts}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError, match=r"0\.\.1"):
        distribute.tf_config(hosts, 2)
    with pytest.raises(ValueError, match="host:port"):
        distribute.tf_config(["localhost"], 0)
    with pytest.raises(ValueError, match="at least one"):
        distribute.tf_config([], 0)


def test_tf_config_from_a_kubernetes_pod_environment():
    env = {distribute.HOSTS_ENV: "a-0.a:5000, a-1.a:5000", distribute.INDEX_ENV: "1"}
    assert distribute.tf_config_from_env(env) == distribute.tf_config(
        ["a-0.a:5000", "a-1.a:5000"], 1)
    given = {"cluster": {"worker": ["x:1"]}, "task": {"type": "worker", "index": 0}}
    assert distribute.tf_config_from_env({"TF_CONFIG": json.dumps(given)}) == given
    assert distribute.tf_config_from_env({}) is None
    with pytest.raises(ValueError, match=distribute.INDEX_ENV):
        distribute.tf_config_from_env({distribute.HOSTS_ENV: "a:1"})


def test_a_busy_port_is_named():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(distribute.PortBusy, match=f"port {port} .* busy"):
            distribute.check_ports([port])
        with pytest.raises(distribute.PortBusy, match=str(port)):
            distribute.launch("mnist", workers=2, port=port)
    with pytest.raises(ValueError, match="1-65535"):
        distribute.check_ports([70000])
    ports = distribute.free_ports(3)
    assert len(set(ports)) == 3
    distribute.check_ports(ports)


@pytest.mark.parametrize("workers", [0, -1, "2", True, 1.5])
def test_launch_refuses_a_bad_worker_count(workers):
    with pytest.raises(ValueError, match="--workers must be an int >= 1"):
        distribute.launch("mnist", workers=workers)


def test_launch_refuses_a_missing_dataset_and_early_stopping(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(core, "default_data_dir", lambda: tmp_path / "none")
    with pytest.raises(core.DatasetUnavailable, match="every worker reads it"):
        distribute.launch("mnist", "convnet", tmp_path / "run", workers=2)
    with pytest.raises(ValueError, match="stops early"):
        distribute.launch("imdb_reviews", "bag_of_ngrams", tmp_path / "run", workers=2)
    with pytest.raises(ValueError, match="kill"):
        distribute.launch("fashion_mnist", "classic_convnet", workers=2, kill=(2, 1))


def test_the_command_line_says_what_is_wrong(capsys):
    assert cli.main(["train", "mnist", "--workers", "0"]) == 2
    assert "--workers must be an int >= 1" in capsys.readouterr().err
    assert cli.main(["train", "mnist", "--port", "5000"]) == 2
    assert "go with --workers" in capsys.readouterr().err
    assert cli.main(["train", "spoken_digit", "--workers", "2", "--split",
                     "speaker:theo"]) == 2
    assert "leave out --split" in capsys.readouterr().err


def test_replica_slices_cover_a_batch_once():
    assert distribute.replica_slices(256, 2) == [(0, 128), (128, 256)]
    assert distribute.replica_slices(256, 3) == [(0, 86), (86, 172), (172, 256)]
    assert distribute.replica_slices(2, 3) == [(0, 1), (1, 2), (2, 2)]
    for batch in range(0, 20):
        for replicas in range(1, 5):
            rows = [i for a, b in distribute.replica_slices(batch, replicas) for i in range(a, b)]
            assert rows == list(range(batch))
    with pytest.raises(ValueError):
        distribute.replica_slices(4, 0)


def test_the_kubernetes_manifest_is_an_indexed_job_whose_pods_find_each_other():
    service, job = json.loads(json.dumps(distribute.kubernetes_manifest(
        3, image="registry.example/swtwo:1", port=2222)))
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"][0]["port"] == 2222
    spec = job["spec"]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/swtwo:1"
    assert container["command"][:3] == ["python", "-m", "swtwo_tf.distribute"]
    assert container["ports"][0]["containerPort"] == 2222
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert mounts == {v["name"] for v in pod["volumes"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    hosts = env[distribute.HOSTS_ENV].split(",")
    assert hosts == [f"swtwo-train-{i}.swtwo-train:2222" for i in range(3)]
    for index in range(3):  # what each pod's worker builds from Kubernetes's index
        cluster = distribute.tf_config_from_env({**env, distribute.INDEX_ENV: str(index)})
        assert cluster == distribute.tf_config(hosts, index)
    with pytest.raises(ValueError, match="workers"):
        distribute.kubernetes_manifest(0, image="x")
    with pytest.raises(ValueError, match="image"):
        distribute.kubernetes_manifest(2, image="")
    with pytest.raises(ValueError, match="no recipe for mnist/resnet"):
        distribute.kubernetes_manifest(2, image="x", model_name="resnet")


def test_swtwo_manifest_prints_a_list_kubectl_applies(capsys):
    assert cli.main(["manifest", "mnist", "--workers", "2", "--image", "swtwo:1"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["kind"] == "List"
    assert [i["kind"] for i in manifest["items"]] == ["Service", "Job"]
    assert manifest["items"][1]["spec"]["completions"] == 2
    assert cli.main(["manifest", "mnist", "--workers", "2", "--image", "x", "--port",
                     "0"]) == 2
    assert "1-65535" in capsys.readouterr().err


# --- several devices in one process (a fresh process: devices are set before TF starts) ---

REPLICA_CHECKS = textwrap.dedent("""
    import json
    import numpy as np
    from swtwo_tf import distribute
    print(json.dumps({"devices": distribute.split_cpu(3)}))
    import keras
    import tensorflow as tf
    found = {}
    # 1. how TensorFlow cuts a global batch, against replica_slices
    for replicas in (2, 3):
        strategy = distribute.local_strategy(replicas)
        for batch in (256, 240, 7, 2):
            numbers = tf.data.Dataset.range(batch).batch(batch).map(lambda i: (i, i))
            (x, y, sizes), = list(distribute.distribute_dataset(strategy, numbers))
            cut = [tuple(t.numpy().tolist()) for t in strategy.experimental_local_results(y)]
            found[f"{batch}/{replicas}"] = [[int(r[0]), int(r[-1]) + 1] if r else [] for r in cut]
            assert all(int(s.numpy().max(initial=batch)) == batch
                       for s in strategy.experimental_local_results(sizes))
    # 2. one step of the Trainer on 2 replicas equals one step on one device
    def trained_weights(strategy):
        keras.utils.set_random_seed(1)
        with strategy.scope():
            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, "relu"),
                                      keras.layers.Dense(3, activation="softmax")])
            optimizer = keras.optimizers.SGD(0.5)
            optimizer.build(model.trainable_variables)
        trainer = distribute.Trainer(model, optimizer, strategy)
        rng = np.random.default_rng(0)
        data = tf.data.Dataset.from_tensor_slices(
            (rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64))).batch(64)
        trainer.train_epoch(distribute.distribute_dataset(strategy, data))
        return [v.numpy() for v in model.trainable_variables]
    one = trained_weights(tf.distribute.get_strategy())
    two = trained_weights(distribute.local_strategy(2))
    found["step_difference"] = max(float(np.abs(a - b).max()) for a, b in zip(one, two))
    # 3. batch norm's moving statistics drift apart per replica until synchronised
    strategy = distribute.local_strategy(2)
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
    trainer = distribute.Trainer(model, optimizer, strategy)
    batch = tf.data.Dataset.from_tensors((tf.concat([tf.zeros((2, 4)), tf.ones((2, 4))], 0),
                                          tf.constant([0, 1, 2, 3])))
    trainer.train_epoch(distribute.distribute_dataset(strategy, batch))
    copies = lambda: [t.numpy()[0] for t in strategy.experimental_local_results(
        model.non_trainable_variables[0].value)]
    found["before_sync"] = [float(c) for c in copies()]
    trainer.sync_statistics()
    found["after_sync"] = [float(c) for c in copies()]
    print(json.dumps(found))
""")


@pytest.mark.slow
def test_replicas_in_one_process_cut_batches_and_step_like_one_device():
    result = subprocess.run([sys.executable, "-c", REPLICA_CHECKS], capture_output=True,
                            text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    devices, found = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert len(devices["devices"]) == 3
    for key, cut in found.items():
        if "/" in key:
            batch, replicas = map(int, key.split("/"))
            expected = [[a, b] if b > a else [] for a, b in
                        distribute.replica_slices(batch, replicas)]
            assert cut == expected, key
    assert found["step_difference"] < 1e-6, "two replicas must take one device's step"
    low, high = found["before_sync"]
    assert low != high, "each replica updates its own moving mean from its own slice"
    assert found["after_sync"] == pytest.approx([(low + high) / 2] * 2)


def test_split_cpu_after_tensorflow_started_says_what_to_do():
    import tensorflow as tf

    tf.constant(1.0)  # TensorFlow has set up its devices
    have = len(tf.config.list_logical_devices("CPU"))
    assert distribute.split_cpu(have)  # asking for what is there is fine
    with pytest.raises(RuntimeError, match="restart the kernel"):
        distribute.split_cpu(have + 1)


# --- real jobs of worker processes (slow) -------------------------------------------------


def _launch(out: Path, workers: int, **options) -> tuple[dict, list[str]]:
    lines = []
    report = distribute.launch("mnist", "convnet", out, workers=workers, log=lines.append,
                               timeout=240, **options)
    return report, lines


def _ports(lines: list[str]) -> list[int]:
    return [int(p.rsplit(":", 1)[1]) for line in lines if line.startswith(("starting",
            "restarting")) for p in line.split(" on ")[1].split(";")[0].split(", ")]


def _assert_nothing_left(out: Path, lines: list[str]) -> None:
    assert distribute.workers_alive(out) == [], "a worker process outlived the job"
    distribute.check_ports(_ports(lines))  # raises PortBusy if one is still held
    assert not (out / "backup").exists(), "a finished job removes its backup"


def _shards(out: Path, workers: int) -> list[list[int]]:
    return [json.loads((out / "logs" / f"shard-{i}.json").read_text())["ids"]
            for i in range(workers)]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    require_real("mnist")
    out = tmp_path_factory.mktemp("two") / "run"
    start = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWTWO_QUICK", "1")
        report, lines = _launch(out, 2, record_shards=True)
    return {"out": out, "report": report, "lines": lines,
            "seconds": time.perf_counter() - start}


@pytest.mark.slow
def test_two_workers_train_on_disjoint_shards_and_leave_nothing_behind(two_workers):
    report, out = two_workers["report"], two_workers["out"]
    assert report["workers"] == 2 and report["restarts"] == 0 and report["killed"] == []
    assert report["epochs"] == report["epochs_this_run"] == len(report["history"]) == 2
    assert report["test_accuracy"] > 0.80, report["history"]
    assert report["history"][-1]["loss"] < report["history"][0]["loss"]
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()
    assert [w["worker"] for w in report["worker_seconds"]] == [0, 1]
    own = sum(w["cpu_seconds"] for w in report["worker_seconds"])
    assert own * 0.95 <= report["cpu_seconds"] < own + 30, "CPU of every worker process"
    assert (out / "logs" / "worker-1.log").read_text().count("epoch 2/2: loss") == 1
    first, second = _shards(out, 2)
    assert not set(first) & set(second), "two workers read the same example"
    assert sorted(first + second) == list(range(len(first) + len(second)))
    _assert_nothing_left(out, two_workers["lines"])


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_resumes_to_the_same_model(two_workers, tmp_path, quick):
    out = tmp_path / "run"
    report, lines = _launch(out, 2, kill=(1, 2))
    assert report["killed"] == [{"worker": 1, "epoch": 2}] and report["restarts"] == 1
    assert any("resuming after epoch 1" in line for line in lines), lines
    assert report["epochs"] == 2 and report["epochs_this_run"] == 1
    last_attempt = sum(w["cpu_seconds"] for w in report["worker_seconds"])
    assert report["cpu_seconds"] > last_attempt + 5, "the killed attempt's CPU counts too"
    uninterrupted = two_workers["report"]
    learned = ("epoch", "loss", "accuracy", "examples", "val_accuracy")  # not the timings
    assert ({k: report["history"][-1][k] for k in learned}
            == {k: uninterrupted["history"][-1][k] for k in learned})
    assert report["test_accuracy"] == uninterrupted["test_accuracy"], "progress was lost"
    _assert_nothing_left(out, lines)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1])  # 2 workers: the fixture; 3: benchmarks/distributed.py
def test_one_worker_through_the_command_line(workers, tmp_path, quick, capsys):
    require_real("mnist")
    out = tmp_path / f"w{workers}"
    assert cli.main(["train", "mnist", "--workers", str(workers), "--out", str(out)]) == 0
    assert f"on {workers} worker(s)" in capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    assert report["workers"] == workers and report["epochs"] == 2
    assert report["test_accuracy"] > 0.75
    assert sorted(p.name for p in (out / "logs").glob("worker-*.log")) == [
        f"worker-{i}.log" for i in range(workers)]
    assert distribute.workers_alive(out) == []


@pytest.mark.slow
def test_a_worker_that_keeps_failing_stops_the_job_with_its_log(tmp_path, quick):
    require_real("mnist")
    lines = []
    with pytest.raises(distribute.WorkerFailed, match=r"worker 0 exited with status -9"):
        distribute.launch("mnist", "convnet", tmp_path, workers=2, kill=(0, 1),
                          max_restarts=0, log=lines.append, timeout=240)
    assert distribute.workers_alive(tmp_path) == []
    distribute.check_ports(_ports(lines))


def _as_a_terminal_starts_it() -> None:
    """A command typed in a terminal starts with Ctrl-C's signal neither ignored nor blocked.
    The test runner's process may have either (a library it loaded, another test), and a child
    inherits both, so a launcher started from it might never see the Ctrl-C sent below."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signals(process: subprocess.Popen) -> str:
    """The process's blocked and ignored signal masks (Linux), for a failure's message."""
    try:
        return " ".join(line.strip() for line in Path(f"/proc/{process.pid}/status").read_text(
        ).splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    except OSError:
        return "(no /proc)"


def _start_and_wait(command: list[str], out: Path) -> subprocess.Popen:
    """Start a launcher; return it once both its workers are training."""
    launcher = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_as_a_terminal_starts_it)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
            " step " in line for line in distribute.launcher._lines(out / "logs" / "worker-1.log")):
        time.sleep(0.2)
    assert len(distribute.workers_alive(out)) == 2, "the workers did not start training"
    return launcher


def _gone(out: Path, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while distribute.workers_alive(out) and time.monotonic() < deadline:
        time.sleep(0.2)
    return distribute.workers_alive(out) == []


@pytest.mark.slow
def test_ctrl_c_or_a_killed_launcher_stops_every_worker(tmp_path, quick):
    require_real("mnist")
    out = tmp_path / "interrupted"
    launcher = _start_and_wait([sys.executable, "-m", "swtwo_tf.cli", "train", "mnist",
                                "--workers", "2", "--out", str(out)], out)
    masks = _signals(launcher)
    launcher.send_signal(signal.SIGINT)
    output, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 130 and "interrupted" in output, (masks, output[-2000:])
    assert distribute.workers_alive(out) == []
    out = tmp_path / "orphaned"  # SIGKILL: the launcher cannot clean up; the workers notice
    launcher = _start_and_wait([sys.executable, "-c", "from swtwo_tf import distribute; "
                                f"distribute.launch('mnist', workers=2, out={str(out)!r})"], out)
    launcher.kill()
    launcher.communicate(timeout=30)
    assert _gone(out), "workers outlived their launcher"
    # one worker notices first; the other may instead fail in the all-reduce it shares
    assert any("the launcher has gone" in (out / "logs" / f"worker-{i}.log").read_text()
               for i in range(2))

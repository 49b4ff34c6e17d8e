"""The same training on several devices or several workers with ``tf.distribute`` (chapter 11).

Data parallelism: every replica holds a whole copy of the model and takes its slice of each
global batch (:func:`distribute_dataset`). Each computes the gradient of its slice's share of
the *global* mean loss (:func:`replica_step`); the replicas add those gradients together (an
all-reduce) and apply the same update, so every copy stays equal and the step is the step one
device would take on the whole batch.

- On one machine, :func:`local_strategy` is a ``MirroredStrategy`` over the GPUs, or over
  logical CPU devices made by :func:`split_cpu` when there are fewer than two GPUs. Keras's
  ``model.fit`` runs under it unchanged.
- Across processes, ``MultiWorkerMirroredStrategy`` reads the cluster from ``TF_CONFIG``.
  Keras 3's ``model.fit`` fails under it in the kit's Keras version (keras-team/keras#20585:
  its first batch is reduced with a call that this strategy refuses eagerly), so the workers
  run :class:`Trainer`, the loop ``fit`` would run, with the all-reduce in plain sight. Its
  backups do what tf.keras's ``BackupAndRestore`` did for several workers: every worker saves
  at each epoch's end (saving is a collective step), the chief into the run folder and the
  others into temporary folders; a restarted job restores the chief's backup, replays the
  finished epochs' data order and goes on with the next epoch as if never stopped.
- :func:`launch` starts N worker processes on 127.0.0.1, each configured by ``TF_CONFIG`` on
  free ports, with a log each; restarts the whole job from its backup when a worker dies; and
  leaves no process behind on success, failure or Ctrl-C (``swtwo train --workers N``).
  :func:`run_worker` is what each process runs (``python -m swtwo_tf.distribute``).
- :func:`kubernetes_manifest` is the same job for a real cluster (an Indexed Job).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.files import atomic_save, write_json

#: The worker that saves the model and writes metrics.json (TensorFlow's convention: task 0).
CHIEF = 0
#: Environment variables a Kubernetes pod gets (see :func:`kubernetes_manifest`).
HOSTS_ENV, INDEX_ENV = "SWTWO_WORKER_HOSTS", "JOB_COMPLETION_INDEX"
#: Training steps of a whole multi-worker run in quick mode (two epochs of 20 batches): each
#: worker is a new process that imports TensorFlow and traces its step, which is most of a
#: quick run's time.
QUICK_STEPS = 40


class PortBusy(ValueError):
    """A port the job was told to use is taken by another program."""


class WorkerFailed(RuntimeError):
    """A worker exited with an error more often than the job may restart."""


# --- one machine, several devices ---------------------------------------------------------


def split_cpu(devices: int = 2) -> list[str]:
    """Make this process's CPU appear to TensorFlow as ``devices`` logical devices; returns
    their names. Must run before TensorFlow first uses a device (the first cell of a
    chapter). The devices share the same cores: they show how replicas work, not a speed-up.
    """
    import tensorflow as tf

    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        raise ValueError(f"devices must be an int >= 1, got {devices!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        have = tf.config.list_logical_devices("CPU")
        if len(have) != devices:
            raise RuntimeError(
                f"TensorFlow has already set up {len(have)} CPU device(s), so it cannot make "
                f"{devices}: call split_cpu({devices}) before anything else uses TensorFlow "
                "(restart the kernel and run the setup cell first)") from None
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def local_strategy(devices: int = 2):
    """A ``MirroredStrategy`` over ``devices`` GPUs when the machine has them, else over
    ``devices`` logical CPU devices (:func:`split_cpu` must have made them).

    The same devices give the same strategy object each time: two strategies over the same
    devices number their collective operations alike, and TensorFlow would mix up one's
    all-reduce with the other's (a cell run twice must not break the next)."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if len(gpus) >= devices:
        return _mirrored(tuple(gpus[:devices]))
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(cpus) < devices:
        raise RuntimeError(f"{devices} devices wanted, but TensorFlow sees {len(gpus)} GPU(s) "
                           f"and {len(cpus)} CPU device(s): call distribute.split_cpu("
                           f"{devices}) first")
    return _mirrored(tuple(cpus[:devices]))


@functools.cache
def _mirrored(devices: tuple[str, ...]):
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))


# --- the cluster's addresses --------------------------------------------------------------


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free on ``host`` now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def check_ports(ports: list[int], host: str = "127.0.0.1") -> None:
    """Raise :class:`PortBusy` naming the first of ``ports`` another program holds."""
    for port in ports:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"port must be an int in 1-65535, got {port!r}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # as servers do: a port left in TIME_WAIT by a finished job is free; one that a
            # program listens on is not
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise PortBusy(f"port {port} on {host} is busy ({exc.strerror}): pick another "
                               "--port, or leave it out to use free ports") from None


def tf_config(hosts: list[str], index: int) -> dict:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers at ``hosts``
    (``"host:port"`` each): the whole cluster, and which task this process is."""
    if not hosts:
        raise ValueError("a cluster needs at least one worker address")
    for host in hosts:
        name, _, port = str(host).rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"a worker address must look like 'host:port', got {host!r}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(hosts):
        raise ValueError(f"worker index must be in 0..{len(hosts) - 1}, got {index!r}")
    return {"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}}


def tf_config_from_env(environ=None) -> dict | None:
    """``TF_CONFIG`` as set, or built from ``$SWTWO_WORKER_HOSTS`` (comma-separated
    ``host:port``) and ``$JOB_COMPLETION_INDEX`` (what a Kubernetes Indexed Job gives each
    pod); None when neither is set."""
    environ = os.environ if environ is None else environ
    if environ.get("TF_CONFIG"):
        return json.loads(environ["TF_CONFIG"])
    if environ.get(HOSTS_ENV):
        if INDEX_ENV not in environ:
            raise ValueError(f"${HOSTS_ENV} is set but ${INDEX_ENV} is not: which worker is "
                             "this process?")
        hosts = [h.strip() for h in environ[HOSTS_ENV].split(",") if h.strip()]
        return tf_config(hosts, int(environ[INDEX_ENV]))
    return None


# --- the data each replica reads ----------------------------------------------------------


def distribute_dataset(strategy, dataset):
    """A batched ``(inputs, labels)`` dataset split between ``strategy``'s replicas: each
    gets ``(inputs, labels, sizes)``, its rows of every global batch, where ``sizes`` holds
    the global batch's size once per row (what :func:`replica_step` divides by).

    Every worker builds the same pipeline from the same seed; TensorFlow cuts each global
    batch into one slice per replica, in order, and each worker keeps its own slices
    (auto-sharding by data), so the replicas together see each example once per epoch.
    """
    import tensorflow as tf

    def with_sizes(inputs, labels):
        return inputs, labels, tf.fill(tf.shape(labels)[:1], tf.shape(labels)[0])

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.map(with_sizes).with_options(options))


def replica_slices(batch: int, replicas: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: the rows of a global batch of ``batch`` examples that each of
    ``replicas`` replicas reads, as :func:`distribute_dataset` cuts it (the first slices get
    one row more when ``batch`` does not divide evenly)."""
    if not isinstance(batch, int) or batch < 0 or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"need batch >= 0 and replicas >= 1, got {batch!r}, {replicas!r}")
    size = -(-batch // replicas)  # ceil
    return [(min(r * size, batch), min((r + 1) * size, batch)) for r in range(replicas)]


# --- the training step --------------------------------------------------------------------


def replica_step(model, optimizer, inputs, labels, sizes):
    """One replica's part of a training step; returns its summed loss, correct count and
    examples (the loop adds them up over the replicas).

    The loss is this slice's per-example losses summed and divided by the *global* batch
    size, so the sum of the replicas' gradients is the gradient of the mean loss over the
    whole batch. ``optimizer.apply_gradients`` adds them up (the all-reduce) before updating.
    """
    import keras
    import tensorflow as tf

    global_size = tf.cast(tf.reduce_max(tf.concat([sizes, [1]], axis=0)), tf.float32)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
        probabilities = model(inputs, training=True)
        per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
        loss = tf.reduce_sum(per_example) / global_size
        if model.losses:  # weight penalties: each replica adds its share
            loss += tf.add_n(model.losses) / replicas
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
    return tf.reduce_sum(per_example), _correct(labels, probabilities), tf.size(labels)


def _correct(labels, probabilities):
    import tensorflow as tf

    predicted = tf.argmax(probabilities, axis=-1, output_type=labels.dtype)
    return tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32))


class Trainer:
    """The training loop of ``model.fit``, under any strategy: one compiled step that every
    replica runs on its slice, the sums of loss, correct answers and examples reduced over
    the replicas."""

    def __init__(self, model, optimizer, strategy):
        import tensorflow as tf

        self.model, self.optimizer, self.strategy = model, optimizer, strategy

        def train(inputs, labels, sizes):
            return replica_step(model, optimizer, inputs, labels, sizes)

        def test(inputs, labels, sizes):
            return _correct(labels, model(inputs, training=False)), tf.size(labels)

        def step(replica_fn):
            @tf.function
            def run(iterator):  # the next batch is read inside the graph, as fit does
                results = strategy.run(replica_fn, args=next(iterator))
                return [strategy.reduce("SUM", r, axis=None) for r in results]
            return run

        self.train_step, self.test_step = step(train), step(test)
        # Batch norm's moving averages: state that is no gradient (random layers' generator
        # states advance alike everywhere and are left alone).
        self.statistics = [v for v in model.non_trainable_variables
                           if "seed_generator" not in v.path]

        @tf.function
        def average():
            def replica_means():
                return tf.distribute.get_replica_context().all_reduce(
                    "MEAN", [tf.identity(v.value) for v in self.statistics])

            means = strategy.run(replica_means)
            for variable, mean in zip(self.statistics, means, strict=True):
                variable.assign(strategy.experimental_local_results(mean)[0])

        self._average = average

    def sync_statistics(self) -> None:
        """Give every replica the mean of the replicas' non-trainable statistics (batch
        norm's moving mean and variance). Each replica updates its own from its slice of the
        batch, so without this the copies drift apart; the loop calls it after every epoch."""
        if self.statistics:
            self._average()

    @staticmethod
    def _steps(step, batches):
        """Run ``step`` on ``batches`` until they end; yields each step's summed results."""
        import tensorflow as tf

        iterator = iter(batches)
        while True:
            try:
                yield [float(value) for value in step(iterator)]
            except (StopIteration, tf.errors.OutOfRangeError):
                return

    def train_epoch(self, batches, *, on_step=None) -> dict:
        """One pass over ``batches`` (from :func:`distribute_dataset`); ``on_step(step)`` is
        called after each step. Returns the epoch's mean loss, accuracy, examples and median
        milliseconds per step (the steady pace, whatever pauses the machine took)."""
        loss = correct = seen = 0.0
        times, last = [], time.perf_counter()
        for step, (batch_loss, batch_correct, batch_seen) in enumerate(
                self._steps(self.train_step, batches), start=1):
            now = time.perf_counter()
            times.append(now - last)
            last = now
            loss, correct, seen = loss + batch_loss, correct + batch_correct, seen + batch_seen
            if on_step is not None:
                on_step(step)
        import numpy as np

        return {"loss": loss / seen, "accuracy": correct / seen, "examples": int(seen),
                "step_ms": round(1000 * float(np.median(times)), 1),
                "slowest_step_s": round(max(times), 2)}

    def accuracy(self, batches) -> float:
        """Accuracy on ``batches``, each replica testing its slice of every batch."""
        counts = list(self._steps(self.test_step, batches))
        return sum(c for c, _ in counts) / sum(n for _, n in counts)


def ring_all_reduce(values: list) -> tuple[list, list[int]]:
    """Sum one array per worker the way a ring all-reduce does (NumPy, for the lesson):
    returns every worker's copy of the sum and the bytes each worker sent.

    The workers stand in a ring, each array cut into N chunks. Reduce-scatter: in N-1
    steps, each worker passes one chunk to its right-hand neighbour, which adds it to its own;
    then worker ``i`` holds the whole sum of chunk ``i + 1``. All-gather: in N-1 more steps
    the summed chunks travel round the ring. Each worker sends 2(N-1) chunks of M/N bytes,
    however many workers there are: 2(N-1)/N * M in all, not N * M.
    """
    import numpy as np

    count = len(values)
    if count < 1 or len({np.shape(v) for v in values}) != 1:
        raise ValueError("ring_all_reduce needs one array per worker, all of one shape")
    chunks = [np.array_split(np.asarray(v).ravel().copy(), count) for v in values]
    sent = [0] * count
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(count - 1):
            # every worker sends at once; receivers use what was sent, not what they update
            outgoing = []
            for worker in range(count):
                index = (worker - step + (phase == "all-gather")) % count
                outgoing.append((index, chunks[worker][index].copy()))
                sent[worker] += chunks[worker][index].nbytes
            for worker, (index, chunk) in enumerate(outgoing):
                right = (worker + 1) % count
                if phase == "reduce-scatter":
                    chunks[right][index] = chunks[right][index] + chunk
                else:
                    chunks[right][index] = chunk
    shape = np.shape(values[0])
    return [np.concatenate(c).reshape(shape) for c in chunks], sent


# --- one worker process -------------------------------------------------------------------


def run_worker(dataset: str, model_name: str, out: str | os.PathLike, *, seed: int = 42,
               epochs: int | None = None, threads: int | None = None,
               record_shards: bool = False) -> dict | None:
    """What each worker process runs: :func:`train` under a ``MultiWorkerMirroredStrategy``
    of the cluster in ``TF_CONFIG`` (a cluster of one without it), with ``threads`` CPU
    threads. The chief returns the metrics, the other workers None."""
    import tensorflow as tf

    started = float(os.environ.get("SWTWO_LAUNCHED_AT", time.time()))
    _exit_with_launcher(os.environ.get("SWTWO_LAUNCHER_PID"))
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    cluster = tf_config_from_env() or tf_config(["127.0.0.1:0"], 0)
    os.environ["TF_CONFIG"] = json.dumps(cluster)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _, report = train(dataset, model_name, out, strategy=strategy, seed=seed, epochs=epochs,
                      record_shards=record_shards, started=started)
    return report if cluster["task"]["index"] == CHIEF else None


def _exit_with_launcher(launcher: str | None) -> None:
    """End this worker if the launcher that started it dies (even by SIGKILL), rather than
    leave it waiting forever for an all-reduce: a thread checks the parent process."""
    import threading

    if not launcher:
        return

    def watch():
        while os.getppid() == int(launcher):
            time.sleep(1.0)
        print("the launcher has gone: stopping this worker", flush=True)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="launcher-watch").start()


def train(dataset: str, model_name: str, out: str | os.PathLike, *, strategy=None,
          seed: int = 42, epochs: int | None = None, record_shards: bool = False,
          started: float | None = None, log=print):
    """Train ``model_name``'s recipe on ``dataset`` with :class:`Trainer` under ``strategy``
    (default: TensorFlow's, one device); returns ``(model, metrics)``.

    The same function runs in one process (one device, or a ``MirroredStrategy``) and in
    every worker of a multi-worker job. Each epoch ends with a backup in ``out/backup``
    (the chief's; other workers write to a temporary folder): a run that finds one goes on
    from it. The chief (worker 0) writes ``out/model.keras`` and ``out/metrics.json``;
    every worker writes its times to ``out/logs/worker-I.json``. It logs one line a quarter
    of the way through each epoch (``epoch E/N step S/M``) and one per finished epoch.
    ``record_shards`` writes which examples of an epoch this worker reads
    (``out/logs/shard-I.json``), to check that the workers' shards are disjoint.
    """
    import tensorflow as tf

    from swtwo_tf import datasets, training
    from swtwo_tf.models import recipe_for

    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    index = int(resolver.task_id) if resolver is not None and resolver.task_id else 0
    workers = len((resolver.cluster_spec().as_dict() or {}).get("worker", [0])) \
        if resolver is not None else 1
    start, cpu_start = time.perf_counter(), time.process_time()
    recipe = recipe_for(dataset, model_name)
    out = Path(out)
    config.seed_everything(seed)
    data = datasets.pipelines(dataset, batch_size=recipe.batch_size, seed=seed)
    full_epochs = recipe.epochs if epochs is None else epochs
    full_steps = int(data.train.cardinality())
    epochs, steps = full_epochs, full_steps
    train_data, validation = data.train, data.validation
    if config.quick_mode():
        epochs, steps = config.quick_plan(full_epochs, full_steps, QUICK_STEPS)
        log(f"Quick mode (SWTWO_QUICK=1): {epochs} of {full_epochs} epochs, at most {steps} "
            "batches each. Unset SWTWO_QUICK for the full run.")
        train_data = train_data.take(steps)
        validation = validation.take(config.QUICK_MAX_STEPS)
    with strategy.scope():
        model = recipe.build(data)
        optimizer = training.optimizer_for(  # the schedule follows quick mode, as in fit
            learning_rate=recipe.learning_rate, schedule=recipe.schedule, epochs=full_epochs,
            steps_per_epoch=full_steps, quick_steps=QUICK_STEPS)
        optimizer.build(model.trainable_variables)
    trainer = Trainer(model, optimizer, strategy)
    if record_shards:
        _record_shards(strategy, steps * recipe.batch_size, recipe.batch_size,
                       out / "logs" / f"shard-{index}.json")
    done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
    # The random layers' generator states are not among the model's checkpointed variables:
    # saved too, a resumed job draws the dropout masks and augmentations it would have drawn.
    seeds = {str(i): v.value for i, v in enumerate(model.non_trainable_variables)
             if "seed_generator_state" in v.path}
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epochs_done=done,
                                     seeds=seeds)
    backup = out / "backup"
    batches = distribute_dataset(strategy, train_data)
    if tf.train.latest_checkpoint(backup):
        checkpoint.restore(tf.train.latest_checkpoint(backup)).expect_partial()
        for _ in range(int(done.numpy())):  # the finished epochs' data order, replayed
            for _ in batches:
                pass
        log(f"worker {index}: resuming after epoch {int(done.numpy())} from {backup}")
    own = backup if index == CHIEF else Path(tempfile.mkdtemp(prefix=f"swtwo-worker{index}-"))
    manager = tf.train.CheckpointManager(checkpoint, own, max_to_keep=1)
    history, first_step = [], []

    for epoch in range(int(done.numpy()), epochs):

        def progress(step, epoch=epoch):
            if not first_step:
                first_step.append(time.time())
            if step % max(1, steps // 4) == 0 and step < steps:
                log(f"epoch {epoch + 1}/{epochs} step {step}/{steps}")

        epoch_start = time.perf_counter()
        logs = trainer.train_epoch(batches, on_step=progress)
        trainer.sync_statistics()
        logs["seconds"] = round(time.perf_counter() - epoch_start, 2)
        logs["val_accuracy"] = trainer.accuracy(distribute_dataset(strategy, validation))
        history.append({"epoch": epoch + 1, **{k: round(v, 4) if isinstance(v, float) else v
                                                for k, v in logs.items()}})
        done.assign(epoch + 1)
        manager.save()
        log(f"epoch {epoch + 1}/{epochs}: loss {logs['loss']:.4f}, accuracy "
            f"{logs['accuracy']:.2%}, val accuracy {logs['val_accuracy']:.2%}, "
            f"{logs['examples'] / logs['seconds']:,.0f} examples/s")
    test_accuracy = trainer.accuracy(distribute_dataset(strategy, data.test))
    timing = {"worker": index, "wall_seconds": round(time.perf_counter() - start, 1),
              "cpu_seconds": round(time.process_time() - cpu_start, 1),
              "all_reduce_ms": all_reduce_ms(strategy, model)}
    if started is not None and first_step:
        timing["startup_seconds"] = round(first_step[0] - started, 1)
    target = out / "model.keras" if index == CHIEF else own / "model.keras"
    atomic_save(target, model.save)
    write_json(out / "logs" / f"worker-{index}.json", timing)
    if index != CHIEF:
        shutil.rmtree(own, ignore_errors=True)
    report = {"dataset": dataset, "model": model_name, "workers": workers,
              "replicas": strategy.num_replicas_in_sync, "seed": seed,
              "global_batch": recipe.batch_size, "epochs": int(done.numpy()),
              "epochs_this_run": len(history), "steps_per_epoch": steps,
              "test_accuracy": round(test_accuracy, 4), "history": history,
              "parameters": model.count_params(), "mode": config.mode_name(),
              "data_source": data.source, "class_names": list(data.class_names),
              "chief": timing}
    if index == CHIEF:
        write_json(out / "metrics.json", report)
    return model, report


def _record_shards(strategy, examples: int, batch: int, path: Path) -> None:
    """Write the example numbers this worker reads of an epoch of ``examples`` in batches of
    ``batch``, cut exactly as the training data is (:func:`distribute_dataset`)."""
    import numpy as np
    import tensorflow as tf

    numbers = tf.data.Dataset.range(examples).batch(batch)
    seen = [strategy.experimental_local_results(labels)
            for _, labels, _ in distribute_dataset(strategy, numbers.map(lambda i: (i, i)))]
    ids = np.concatenate([t.numpy() for replicas in seen for t in replicas])
    write_json(path, {"examples": examples, "ids": ids.tolist()})


def all_reduce_ms(strategy, model, repeats: int = 5) -> float:
    """Median milliseconds of one all-reduce of tensors the size of the model's weights:
    the communication each training step adds, measured on its own."""
    import numpy as np
    import tensorflow as tf

    values = [tf.zeros_like(v) for v in model.trainable_variables]

    @tf.function
    def reduce():
        return tf.distribute.get_replica_context().all_reduce("SUM", values)

    times = []
    for _ in range(repeats + 1):
        begin = time.perf_counter()
        strategy.run(reduce)
        times.append(time.perf_counter() - begin)
    return round(float(np.median(times[1:])) * 1000, 3)


# --- the launcher -------------------------------------------------------------------------


def workers_alive(out: str | os.PathLike) -> list[int]:
    """Process ids of the worker processes still running for the job writing to ``out``
    (read from ``/proc``; empty when there is none, or on a system without ``/proc``)."""
    alive, out = [], str(out)
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in command]
        if "swtwo_tf.distribute" in words and out in words:
            alive.append(int(entry.name))
    return alive



def launch(dataset: str, model_name: str | None = None, out: str | os.PathLike | None = None,
           *, workers: int, seed: int = 42, epochs: int | None = None,
           port: int | None = None, host: str = "127.0.0.1", threads: int | None = None,
           max_restarts: int = 1, kill: tuple[int, int] | None = None,
           record_shards: bool = False, timeout: float | None = None, log=print) -> dict:
    """Train a recipe with ``workers`` worker processes on this machine; returns the chief's
    metrics (``out/metrics.json``) with ``restarts``, ``wall_seconds`` and each worker's
    times added.

    Worker ``i`` listens on ``port + i`` (default: free ports), logs to
    ``out/logs/worker-i.log`` and uses ``threads`` CPU threads (default: this machine's
    cores shared out). When a worker exits with an error, the others are stopped and the
    whole job starts again from the last finished epoch, at most ``max_restarts`` times.
    ``kill=(worker, epoch)`` kills that worker (SIGKILL) in the middle of that epoch of the
    first attempt: what a lost machine does to a job. ``timeout`` (seconds) stops a job that
    hangs. Every worker process is gone when this returns or raises.
    """
    from swtwo_tf import datasets
    from swtwo_tf.datasets import core
    from swtwo_tf.models import recipe_for

    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"--workers must be an int >= 1, got {workers!r}")
    if not isinstance(max_restarts, int) or max_restarts < 0:
        raise ValueError(f"max_restarts must be an int >= 0, got {max_restarts!r}")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    spec = datasets.get_spec(dataset)
    model_name = model_name or spec.default_model
    recipe = recipe_for(dataset, model_name)
    if recipe.early_stopping:
        raise ValueError(f"{dataset}/{model_name} stops early; multi-worker training runs a "
                         "fixed number of epochs: pick a recipe without early stopping")
    if kill is not None and not (0 <= kill[0] < workers and kill[1] >= 1):
        raise ValueError(f"kill=(worker, epoch) needs a worker in 0..{workers - 1} and an "
                         f"epoch >= 1, got {kill!r}")
    if spec.tfds is not None and core.locate(dataset) is None:
        raise core.DatasetUnavailable(dataset, core.search_dirs(),
                                      "it is not prepared, and every worker reads it")
    if port is not None:
        check_ports(list(range(port, port + workers)), host)
    out = Path(out or config.REPO_ROOT / "runs" / f"{dataset}_{model_name}_{workers}w")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    arguments = [dataset, model_name, str(out), "--seed", str(seed), "--threads", str(threads)]
    arguments += (["--epochs", str(epochs)] if epochs else [])
    arguments += (["--record-shards"] if record_shards else [])
    start, killed = time.perf_counter(), []
    with _terminate_as_interrupt():
        attempt = _attempts(arguments, out, workers=workers, port=port, host=host, kill=kill,
                            killed=killed, max_restarts=max_restarts, log=log,
                            deadline=None if timeout is None else start + timeout)
    report = json.loads((out / "metrics.json").read_text())
    report["restarts"] = attempt
    report["killed"] = [{"worker": kill[0], "epoch": kill[1]}] if killed else []
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    report["worker_seconds"] = [json.loads((out / "logs" / f"worker-{i}.json").read_text())
                                for i in range(workers)]
    shutil.rmtree(out / "backup", ignore_errors=True)  # finished: a rerun starts afresh
    write_json(out / "metrics.json", report)
    return report


class _terminate_as_interrupt:
    """While the job runs, SIGTERM (``kill``, a closing terminal) stops the launcher the way
    Ctrl-C does, so its clean-up stops every worker (in the main thread; elsewhere the
    handler cannot be set and nothing changes)."""

    def __enter__(self):
        import threading

        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._interrupt)
        return self

    @staticmethod
    def _interrupt(signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _attempts(arguments, out: Path, *, workers, port, host, kill, killed, max_restarts, log,
              deadline) -> int:
    """Run the job, restarting it from its backup when a worker fails; returns how many
    restarts it took."""
    for attempt in range(max_restarts + 1):
        ports = list(range(port, port + workers)) if port else free_ports(workers, host)
        check_ports(ports, host)
        hosts = [f"{host}:{p}" for p in ports]
        log(f"{'starting' if attempt == 0 else 'restarting'} {workers} worker"
            f"{'s' * (workers > 1)} on {', '.join(hosts)}; logs in {out / 'logs'}")
        failed = _run_job(hosts, arguments, out / "logs", kill=kill if attempt == 0 else None,
                          killed=killed, log=log, deadline=deadline)
        if failed is None:
            return attempt
        worker, code, tail = failed
        if attempt == max_restarts:
            raise WorkerFailed(f"worker {worker} exited with status {code} and the job may "
                               f"restart {max_restarts} time(s); the end of its log "
                               f"({out / 'logs' / f'worker-{worker}.log'}):\n{tail}")
        log(f"worker {worker} exited with status {code}: restarting the job from its last "
            f"backup ({attempt + 1} of {max_restarts})")
    raise AssertionError("unreachable")  # pragma: no cover


def _run_job(hosts, arguments, logs: Path, *, kill, killed: list, deadline, log):
    """Run one attempt of the job; None when every worker succeeded, else ``(worker, exit
    status, last lines of its log)`` of the first that failed. Kills every worker left.
    ``kill=(worker, epoch)`` kills that worker once it is a quarter into that epoch (and
    appends it to ``killed``)."""
    processes, files = [], []
    try:
        for index in range(len(hosts)):
            env = {**os.environ, "TF_CONFIG": json.dumps(tf_config(hosts, index)),
                   "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                   "PYTHONUNBUFFERED": "1", "SWTWO_LAUNCHED_AT": str(time.time()),
                   "SWTWO_LAUNCHER_PID": str(os.getpid())}
            handle = open(logs / f"worker-{index}.log", "w")  # noqa: SIM115 - closed below
            files.append(handle)
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "swtwo_tf.distribute", *arguments], env=env,
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=config.REPO_ROOT))
        announced = 0
        while True:
            codes = [p.poll() for p in processes]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                index, code = failed[0]
                return index, code, _tail(logs / f"worker-{index}.log")
            if all(c == 0 for c in codes):
                return None
            announced = _echo_epochs(logs / f"worker-{CHIEF}.log", announced, log)
            if kill and not killed and _reached(logs / f"worker-{kill[0]}.log", kill[1]):
                log(f"killing worker {kill[0]} (SIGKILL) in the middle of epoch {kill[1]}")
                os.killpg(processes[kill[0]].pid, signal.SIGKILL)
                killed.append(kill)
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError(f"the job ran past its timeout; logs in {logs}")
            time.sleep(0.2)
    finally:
        _stop(processes)
        for handle in files:
            handle.close()


def _stop(processes, grace: float = 3.0) -> None:
    """Terminate every process (and its group) still running; SIGKILL after ``grace`` s."""
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    end = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.is_file() else []


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(_lines(path)[-lines:])


def _reached(path: Path, epoch: int) -> bool:
    """Has the worker logging to ``path`` passed the first quarter of ``epoch``?"""
    return any(line.startswith(f"epoch {epoch}/") and " step " in line for line in _lines(path))


def _echo_epochs(path: Path, shown: int, log) -> int:
    """Pass the chief's new finished-epoch and resume lines on to ``log``; returns how many
    have been shown."""
    lines = [line for line in _lines(path)
             if (line.startswith("epoch ") and ": loss" in line) or "resuming" in line]
    for line in lines[shown:]:
        log(f"worker {CHIEF}: {line}")
    return len(lines)


# --- a real cluster -----------------------------------------------------------------------


def kubernetes_manifest(workers: int, *, image: str, dataset: str = "mnist",
                        model_name: str = "convnet", name: str = "swtwo-train",
                        port: int = 12345, data_claim: str = "swtwo-data") -> list[dict]:
    """The same job on a Kubernetes cluster: a headless Service that gives each pod a DNS
    name, and an Indexed Job of ``workers`` pods. Pod ``i`` is ``<name>-i.<name>``; it
    builds its ``TF_CONFIG`` from ``$SWTWO_WORKER_HOSTS`` and the ``$JOB_COMPLETION_INDEX``
    Kubernetes sets (:func:`tf_config_from_env`). ``data_claim`` is a shared volume for the
    datasets and the run folder (the backup the chief writes must outlive a pod)."""
    from swtwo_tf.models import recipe_for

    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if not image:
        raise ValueError("image must name a container image with the kit installed")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be an int in 1-65535, got {port!r}")
    recipe_for(dataset, model_name)  # ValueError naming the known recipes
    hosts = ",".join(f"{name}-{i}.{name}:{port}" for i in range(workers))
    labels = {"app": name}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "labels": labels},
               "spec": {"clusterIP": "None", "selector": labels,
                        "ports": [{"name": "grpc", "port": port}]}}
    container = {
        "name": "worker", "image": image,
        "command": ["python", "-m", "swtwo_tf.distribute", dataset, model_name, "/work/run"],
        "env": [{"name": HOSTS_ENV, "value": hosts},
                {"name": "TFDS_DATA_DIR", "value": "/work/tensorflow_datasets"}],
        "ports": [{"containerPort": port, "name": "grpc"}],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
           "spec": {"completions": workers, "parallelism": workers,
                    "completionMode": "Indexed", "backoffLimitPerIndex": 2,
                    "template": {"metadata": {"labels": labels},
                                 "spec": {"subdomain": name, "restartPolicy": "Never",
                                          "containers": [container],
                                          "volumes": [{"name": "work", "persistentVolumeClaim":
                                                       {"claimName": data_claim}}]}}}}
    return [service, job]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swtwo_tf.distribute",
                                     description="one worker of a multi-worker training job "
                                                 "(started by swtwo train --workers N)")
    parser.add_argument("dataset")
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--record-shards", action="store_true")
    args = parser.parse_args(argv)
    run_worker(args.dataset, args.model, args.out, seed=args.seed, epochs=args.epochs,
               threads=args.threads, record_shards=args.record_shards)
    return 0


if __name__ == "__main__":
    sys.exit(main())

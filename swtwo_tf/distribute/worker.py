"""One worker of a job: the recipe trained with :class:`~swtwo_tf.distribute.loop.Trainer`, its
per-epoch backup and resume, and its metrics (chapter 11). ``python -m swtwo_tf.distribute``
runs :func:`main`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.distribute.cluster import tf_config, tf_config_from_env
from swtwo_tf.distribute.loop import Trainer, all_reduce_ms, distribute_dataset
from swtwo_tf.files import atomic_save, write_json

#: The worker that saves the model and writes metrics.json (TensorFlow's convention: task 0).
CHIEF = 0
#: Training steps of a whole multi-worker run in quick mode (two epochs of 20 batches): each
#: worker is a new process that imports TensorFlow and traces its step, which is most of a
#: quick run's time.
QUICK_STEPS = 40


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

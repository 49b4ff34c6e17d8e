"""Chapter 11's code exercises (see :mod:`swtwo_tf.exercises`): the rows of a global batch each
replica reads, the loss each replica differentiates, a worker's ``TF_CONFIG``, and gradient
accumulation written by hand."""

from __future__ import annotations

import json

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# ---------------------------------------------------------------- 11.1 the replicas' rows


def replica_rows(batch, replicas):
    """``[(start, stop), ...]``: the rows of a global batch of ``batch`` examples that each of
    ``replicas`` replicas reads, in order, as TensorFlow cuts it: slices of ``ceil(batch /
    replicas)`` rows, the last ones shorter (or empty) when it does not divide evenly."""
    size = -(-batch // replicas)
    return [(min(r * size, batch), min((r + 1) * size, batch)) for r in range(replicas)]


def _floor_rows(batch, replicas):
    """A mistake: slices of ``batch // replicas`` rows, which drop the remainder."""
    size = batch // replicas
    return [(r * size, (r + 1) * size) for r in range(replicas)]


def _check_replica_rows(answer) -> None:
    from swtwo_tf import distribute

    for batch, replicas in ((256, 2), (256, 3), (240, 2), (5, 2), (7, 4), (2, 3), (1, 1)):
        got = [tuple(int(i) for i in pair) for pair in answer(batch, replicas)]
        if len(got) != replicas:
            raise ExerciseError(f"batch {batch}, {replicas} replicas: you give {len(got)} "
                                "slices; every replica gets one (possibly empty)")
        rows = [i for start, stop in got for i in range(start, stop)]
        if rows != list(range(batch)):
            missing = sorted(set(range(batch)) - set(rows))
            raise ExerciseError(f"batch {batch}, {replicas} replicas: your slices {got} do not "
                                f"cover rows 0..{batch - 1} once each, in order"
                                + (f" (missing rows {missing[:5]})" if missing else ""))
        expected = distribute.replica_slices(batch, replicas)
        if got != expected:
            raise ExerciseError(f"batch {batch}, {replicas} replicas: you give {got}, but "
                                f"TensorFlow cuts {expected}: slices of ceil(batch / replicas) "
                                "rows, the last ones shorter")


# ---------------------------------------------------------------- 11.2 a replica's loss


def replica_loss(per_example_losses, global_batch):
    """The loss one replica differentiates: its examples' losses summed and divided by the
    *global* batch size, so the replicas' gradients add up to the gradient of the mean loss
    over the whole batch."""
    import tensorflow as tf

    return tf.reduce_sum(per_example_losses) / tf.cast(global_batch, per_example_losses.dtype)


def _replica_mean(per_example_losses, global_batch):
    """A mistake: each replica's own mean, so the summed gradient is R times too large."""
    import tensorflow as tf

    return tf.reduce_mean(per_example_losses)


def _check_replica_loss(answer) -> None:
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(11)
    x = tf.constant(rng.normal(size=(12, 5)), tf.float32)
    y = tf.constant(rng.integers(0, 3, 12))
    w = tf.Variable(rng.normal(size=(5, 3)), dtype=tf.float32)

    def losses(rows):
        logits = tf.matmul(tf.gather(x, rows), w)
        return keras.losses.sparse_categorical_crossentropy(
            tf.gather(y, rows), logits, from_logits=True)

    with tf.GradientTape() as tape:
        whole = tf.reduce_mean(losses(tf.range(12)))
    expected = tape.gradient(whole, w).numpy()
    for slices in (([0, 6], [6, 12]), ([0, 4], [4, 8], [8, 12]), ([0, 7], [7, 12])):
        total = np.zeros_like(expected)
        for start, stop in slices:
            with tf.GradientTape() as tape:
                loss = answer(losses(tf.range(start, stop)), 12)
            total += tape.gradient(loss, w).numpy()
        ratio = float(np.sum(total * expected) / np.sum(expected * expected))
        if abs(ratio - 1) > 1e-3:
            raise ExerciseError(f"with {len(slices)} replicas the sum of their gradients is "
                                f"{ratio:.2f} x the gradient of the mean loss over the global "
                                "batch; divide each replica's summed loss by the global batch "
                                "size, not by its own")
        close(total, expected, f"the sum of {len(slices)} replicas' gradients", atol=1e-5)


# ---------------------------------------------------------------- 11.3 TF_CONFIG


def worker_tf_config(hosts, index):
    """The ``TF_CONFIG`` JSON string of worker ``index`` in a cluster of workers at ``hosts``
    (a list of ``"host:port"``): every worker lists the whole cluster, and says which task
    it is itself."""
    return json.dumps({"cluster": {"worker": list(hosts)},
                       "task": {"type": "worker", "index": int(index)}})


def _only_my_address(hosts, index):
    """A mistake: each worker lists only itself, so no worker can find the others."""
    return json.dumps({"cluster": {"worker": [hosts[index]]},
                       "task": {"type": "worker", "index": 0}})


def _check_worker_tf_config(answer) -> None:
    from swtwo_tf import distribute

    hosts = ["10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"]
    for index in range(len(hosts)):
        got = answer(hosts, index)
        if not isinstance(got, str):
            raise ExerciseError(f"return the JSON string (json.dumps(...)), got "
                                f"{type(got).__name__}: TF_CONFIG is an environment variable")
        try:
            parsed = json.loads(got)
        except json.JSONDecodeError as exc:
            raise ExerciseError(f"worker {index}: not valid JSON ({exc})") from None
        workers = parsed.get("cluster", {}).get("worker")
        if workers != hosts:
            raise ExerciseError(f"worker {index}: cluster.worker is {workers!r}; every worker "
                                f"must list the whole cluster, in the same order: {hosts}")
        if parsed != distribute.tf_config(hosts, index):
            raise ExerciseError(f"worker {index}: task is {parsed.get('task')!r}, expected "
                                f"{distribute.tf_config(hosts, index)['task']!r}")


# ---------------------------------------------------------------- 11.4 gradient accumulation


def accumulated_gradients(model, loss_fn, x, y, k):
    """The gradients of one update with gradient accumulation over ``k`` micro-batches: the
    batch ``(x, y)`` cut into ``k`` equal parts, each part's mean-loss gradient computed on
    its own, and the ``k`` gradients averaged (one list, like ``tape.gradient``)."""
    import tensorflow as tf

    total = None
    for xs, ys in zip(np.split(np.asarray(x), k), np.split(np.asarray(y), k), strict=True):
        with tf.GradientTape() as tape:
            loss = loss_fn(ys, model(xs, training=False))
        grads = tape.gradient(loss, model.trainable_variables)
        total = grads if total is None else [t + g for t, g in zip(total, grads, strict=True)]
    return [t / k for t in total]


def _summed_gradients(model, loss_fn, x, y, k):
    """A mistake: the micro-batches' gradients summed, not averaged (k times too large)."""
    return [g * k for g in accumulated_gradients(model, loss_fn, x, y, k)]


def _check_accumulated_gradients(answer) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    rng = np.random.default_rng(4)
    x = rng.normal(size=(24, 6)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=False))
    expected = tape.gradient(loss, model.trainable_variables)
    for k in (2, 4):
        got = answer(model, loss_fn, x, y, k)
        if len(got) != len(expected):
            raise ExerciseError(f"return one gradient per trainable variable "
                                f"({len(expected)}), got {len(got)}")
        ratio = float(np.sum(np.asarray(got[0]) * np.asarray(expected[0]))
                      / np.sum(np.asarray(expected[0]) ** 2))
        if abs(ratio - k) < 1e-3:
            raise ExerciseError(f"k={k}: your gradients are {k} x the big batch's: average the "
                                "micro-batches' gradients, do not just add them up")
        for index, (mine, big) in enumerate(zip(got, expected, strict=True)):
            close(mine, big, f"k={k}: gradient {index} (against one batch of 24 examples)",
                  atol=1e-6)


register(
    Exercise("11.1", "write replica_rows(batch, replicas) -> [(start, stop), ...]: the rows of "
             "a global batch each replica reads", _check_replica_rows, replica_rows,
             _floor_rows),
    Exercise("11.2", "write replica_loss(per_example_losses, global_batch) -> the loss one "
             "replica differentiates", _check_replica_loss, replica_loss, _replica_mean),
    Exercise("11.3", "write worker_tf_config(hosts, index) -> the TF_CONFIG JSON string of one "
             "worker", _check_worker_tf_config, worker_tf_config, _only_my_address),
    Exercise("11.4", "write accumulated_gradients(model, loss_fn, x, y, k) -> the averaged "
             "gradients of k micro-batches", _check_accumulated_gradients,
             accumulated_gradients, _summed_gradients),
)

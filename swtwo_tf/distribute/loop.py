"""The training loop of data parallelism, under any ``tf.distribute`` strategy (chapter 11): how a
global batch is cut between the replicas, the loss each replica differentiates, the compiled
step with its all-reduce, and what an all-reduce costs."""

from __future__ import annotations

import time


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
    ``replicas`` replicas reads, as :func:`distribute_dataset` cuts it: slices of
    ``ceil(batch / replicas)`` rows, the last ones shorter (or empty) when ``batch`` does not
    divide evenly (``tests/test_distribute.py`` compares this with TensorFlow's own cut)."""
    if not isinstance(batch, int) or batch < 0 or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"need batch >= 0 and replicas >= 1, got {batch!r}, {replicas!r}")
    size = -(-batch // replicas)  # ceil
    return [(min(r * size, batch), min((r + 1) * size, batch)) for r in range(replicas)]


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

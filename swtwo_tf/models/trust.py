"""Chapter 09's models: attacks on an image classifier, and the two training steps that make
one harder to fool (adversarial training) or to question about its data (DP-SGD).

- :func:`logits`: the scores before the softmax, which attacks and attributions differentiate.
- :func:`fgsm` and :func:`pgd`: the fast gradient sign method and projected gradient descent,
  L-infinity attacks on images with pixels in [0, 1] (or waveforms, ``bounds=SAMPLES``).
- :class:`AdversarialTraining`: a ``train_step`` that trains on attacked batches.
- :func:`private_cnn` and :class:`PrivateTraining`: a CNN without batch norm and the DP-SGD
  ``train_step`` (each example's gradient clipped, Gaussian noise added to their sum).

The privacy budget of a DP-SGD run is computed in ``swtwo_tf.trust.privacy``.
"""

from __future__ import annotations

import keras
from keras import layers

ATTACKS = ("fgsm", "pgd")


def logits(model: keras.Model, x, training: bool = False):
    """The logits of a classifier whose last layer is ``Dense(..., activation="softmax")``
    (every image model of the kit): the layer's weights applied without the softmax.

    Attacks differentiate the logits, not the probabilities: when the model is very sure,
    the probability saturates at 1.0 in float32 and its gradient vanishes (gradient masking).
    """
    head = model.layers[-1]
    if not isinstance(head, layers.Dense) or head.activation is not keras.activations.softmax:
        raise ValueError(f"logits() needs a model that ends in a Dense softmax layer; "
                         f"{model.name!r} ends in {type(head).__name__} "
                         f"{getattr(head, 'name', '')!r}")
    body = getattr(model, "_swtwo_body", None)
    if body is None:
        body = keras.Model(model.inputs[0], head.input, name=f"{model.name}_body")
        model._swtwo_body = body
    z = keras.ops.matmul(body(x, training=training), head.kernel)
    return z + head.bias if head.use_bias else z


def _loss_gradient(model, x, y):
    """d(cross-entropy of the logits)/d(input), with the model in inference mode."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.sparse_categorical_crossentropy(y, logits(model, x),
                                                            from_logits=True)
    return tape.gradient(loss, x)


def report(model: keras.Model, y, y_pred, loss, extra: dict | None = None) -> dict:
    """Update a model's compiled loss and metrics after a custom ``train_step`` (the
    pattern of Keras's guide "Customizing what happens in fit()"); ``extra`` maps the names
    of the step's own ``Mean`` metrics to this batch's value."""
    extra = extra or {}
    for metric in model.metrics:
        if metric.name == "loss":
            metric.update_state(loss)
        elif metric.name in extra:
            metric.update_state(extra[metric.name])
        else:
            metric.update_state(y, y_pred)
    return {metric.name: metric.result() for metric in model.metrics}


#: The range of an image's pixels (the default) and of a waveform's samples.
PIXELS, SAMPLES = (0.0, 1.0), (-1.0, 1.0)


def _check_epsilon(epsilon):
    """A number in [0, 1], or a tensor (checked by its caller: one traced attack serves
    every radius)."""
    import tensorflow as tf

    if tf.is_tensor(epsilon):
        return epsilon
    if not 0 <= float(epsilon) <= 1:
        raise ValueError(f"epsilon is a change of pixel value in [0, 1], got {epsilon!r}")
    return float(epsilon)


def _check_bounds(bounds) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be two numbers (low, high), got {bounds!r}") from None
    if not low < high:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
    return low, high


def fgsm(model: keras.Model, x, y, epsilon: float, *, bounds=PIXELS):
    """The fast gradient sign method (Goodfellow et al. 2015): one step of size ``epsilon``
    up the sign of the loss gradient, then back into the inputs' range ``bounds`` (pixels
    in [0, 1] by default; ``SAMPLES`` for a waveform):
    ``x' = clip(x + epsilon * sign(grad_x L(x, y)), low, high)``."""
    import tensorflow as tf

    epsilon, (low, high) = _check_epsilon(epsilon), _check_bounds(bounds)
    return tf.clip_by_value(x + epsilon * tf.sign(_loss_gradient(model, x, y)), low, high)


def pgd(model: keras.Model, x, y, epsilon: float, *, steps: int = 20,
        step_size: float | None = None, random_start: bool = True, seed: int = 0,
        bounds=PIXELS):
    """Projected gradient descent (Madry et al. 2018): ``steps`` signed steps of
    ``step_size`` (default ``2.5 * epsilon / steps``), each followed by a projection back
    into the L-infinity ball of radius ``epsilon`` around ``x`` and into ``bounds`` (as
    :func:`fgsm`); started at a random point of the ball unless ``random_start=False``."""
    import tensorflow as tf

    epsilon, (low, high) = _check_epsilon(epsilon), _check_bounds(bounds)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    x = tf.convert_to_tensor(x, tf.float32)
    adversarial = x
    if random_start:
        noise = tf.random.stateless_uniform(tf.shape(x), [seed, 0], -epsilon, epsilon)
        adversarial = tf.clip_by_value(x + noise, low, high)

    def step(i, adversarial):
        moved = adversarial + step_size * tf.sign(_loss_gradient(model, adversarial, y))
        moved = tf.clip_by_value(moved, x - epsilon, x + epsilon)
        return i + 1, tf.clip_by_value(moved, low, high)

    # a loop in the graph: traced once, however many steps
    return tf.while_loop(lambda i, _: i < steps, step, (tf.constant(0), adversarial))[1]


class AdversarialTraining(keras.Model):
    """Wraps a classifier so that ``fit`` trains it on attacked batches: each step first
    attacks the batch (the model in inference mode), then takes the usual step on the
    attacked images, ``min_theta E max_{|delta| <= eps} L(x + delta, y)``.

    ``attack="fgsm"`` is FGSM from a random start with step ``1.25 * epsilon`` (Wong et al.
    2020, "fast is better than free"): one extra gradient per step. ``attack="pgd"`` uses
    :func:`pgd` with ``steps`` steps: ``steps`` extra gradients. ``call`` is the classifier's,
    so evaluation and ``predict`` see clean inputs. Compile it like the classifier.
    """

    def __init__(self, classifier: keras.Model, epsilon: float, *, attack: str = "fgsm",
                 steps: int = 7, seed: int = 0, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{classifier.name}_adversarial"), **kwargs)
        if attack not in ATTACKS:
            raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
        self.classifier, self.epsilon = classifier, _check_epsilon(epsilon)
        self.attack, self.steps, self.seed = attack, steps, seed
        self.step_counter = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                            trainable=False, name="step_counter")

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def attacked(self, x, y):
        """The batch as this step's attack leaves it."""
        import tensorflow as tf

        seed = tf.cast(self.step_counter, tf.int32) + self.seed
        if self.attack == "pgd":
            return tf.stop_gradient(pgd(self.classifier, x, y, self.epsilon, steps=self.steps,
                                        seed=seed))
        start = tf.random.stateless_uniform(tf.shape(x), [seed, 1], -self.epsilon,
                                            self.epsilon)
        x0 = tf.clip_by_value(x + start, 0.0, 1.0)
        step = 1.25 * self.epsilon * tf.sign(_loss_gradient(self.classifier, x0, y))
        x1 = tf.clip_by_value(x0 + step, x - self.epsilon, x + self.epsilon)
        return tf.stop_gradient(tf.clip_by_value(x1, 0.0, 1.0))

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        x = self.attacked(x, y)
        self.step_counter.assign_add(1)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return report(self, y, y_pred, loss)


def private_cnn(name: str = "private_cnn") -> keras.Model:
    """The small tanh CNN of Papernot et al. (2021, "Tempered sigmoid activations for deep
    learning with differential privacy") for DP-SGD on 28x28 images: conv 16 8x8 stride 2,
    max-pool, conv 32 4x4 stride 2, max-pool, dense 32, dense 10; 26,010 parameters.

    No batch norm: its batch statistics mix the examples of a batch, so one example's
    gradient would depend on the others and could not be clipped alone. tanh, whose
    output is bounded, keeps the activations (and so the clipped gradients) small.
    """
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 8, strides=2, padding="same", activation="tanh"),
        layers.MaxPooling2D(2, strides=1),
        layers.Conv2D(32, 4, strides=2, padding="valid", activation="tanh"),
        layers.MaxPooling2D(2, strides=1),
        layers.Flatten(),
        layers.Dense(32, activation="tanh"),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def clipped_gradients(classifier: keras.Model, x, y, l2_clip: float):
    """Each example's gradient of the cross-entropy, scaled down to L2 norm at most
    ``l2_clip`` (all the weights' gradients of one example together): a list, per weight,
    of arrays with a leading example axis. ``tf.vectorized_map`` computes them in one pass."""
    import tensorflow as tf

    variables = classifier.trainable_variables

    def one(example):
        xi, yi = example
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(
                yi[None], logits(classifier, xi[None], training=True), from_logits=True)
        grads = tape.gradient(loss, variables)
        norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]))
        return [g * tf.minimum(1.0, l2_clip / (norm + 1e-12)) for g in grads]

    return tf.vectorized_map(one, (x, y))


class PrivateTraining(keras.Model):
    """DP-SGD (Abadi et al. 2016) as a ``train_step``: clip each example's gradient to L2
    norm ``l2_clip``, sum them, add Gaussian noise of standard deviation
    ``noise_multiplier * l2_clip`` to every coordinate, divide by ``expected_batch`` (the
    mean batch size of Poisson sampling) and let the optimizer step:

    ``g = (sum_i clip(g_i, C) + N(0, sigma^2 C^2 I)) / B``.

    The batches must be Poisson samples (``datasets.images.poisson_batches``) for the
    accountant's epsilon to hold. ``call`` is the classifier's. Compile it like the
    classifier (DP-SGD's usual optimizer is SGD with momentum).
    """

    def __init__(self, classifier: keras.Model, *, l2_clip: float, noise_multiplier: float,
                 expected_batch: float, seed: int = 0, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{classifier.name}_private"), **kwargs)
        for label, value in (("l2_clip", l2_clip), ("expected_batch", expected_batch)):
            if not value > 0:
                raise ValueError(f"{label} must be positive, got {value!r}")
        if not noise_multiplier >= 0:
            raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}")
        self.classifier = classifier
        self.l2_clip, self.noise_multiplier = float(l2_clip), float(noise_multiplier)
        self.expected_batch = float(expected_batch)
        self.noise_seed = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def noisy_gradient(self, x, y):
        """The gradient DP-SGD steps along (what ``train_step`` applies)."""
        import tensorflow as tf

        variables = self.classifier.trainable_variables

        def summed():
            clipped = clipped_gradients(self.classifier, x, y, self.l2_clip)
            return [tf.reduce_sum(g, axis=0) for g in clipped]

        # A Poisson batch may be empty: its step is noise alone.
        sums = tf.cond(tf.shape(x)[0] > 0, summed,
                       lambda: [tf.zeros_like(v) for v in variables])
        return [(s + keras.random.normal(tf.shape(s), stddev=self.noise_multiplier
                                         * self.l2_clip, seed=self.noise_seed))
                / self.expected_batch for s in sums]

    def train_step(self, data):
        x, y = data
        variables = self.classifier.trainable_variables
        self.optimizer.apply(self.noisy_gradient(x, y), variables)
        y_pred = self(x, training=False)
        return report(self, y, y_pred, self.compute_loss(x=x, y=y, y_pred=y_pred))

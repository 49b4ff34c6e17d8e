"""Chapter 07's training steps for learning with fewer labels, each a ``keras.Model`` whose
``train_step`` ``fit`` runs (no hand-written epoch loop):

- :class:`SemiSupervised`: a classifier trained on a few labelled images and many unlabelled
  ones. Its guess on a weakly augmented unlabelled image becomes a label where the guess is
  confident; with ``strong=`` a strongly augmented view must then agree with it (FixMatch,
  Sohn et al. 2020); without, the weak view itself is trained on its own confident guess
  (pseudo-labelling, Lee 2013).
- :class:`Distiller`: a small student trained on a teacher's softened probabilities as well as
  the labels (knowledge distillation, Hinton et al. 2015).
- :func:`weak_augment`, :func:`strong_augment`: the two kinds of view.
"""

from __future__ import annotations

import keras
from keras import layers

from swtwo_tf.models.trust import logits, report


def weak_augment(seed: int | None = 0) -> keras.Sequential:
    """A shift of up to 2 pixels each way: the digit still looks the same."""
    return keras.Sequential([layers.RandomTranslation(
        0.0625, 0.0625, fill_mode="constant", seed=seed)], name="weak_augment")


def strong_augment(seed: int | None = 0) -> keras.Sequential:
    """Two random image operations of RandAugment (contrast, shear, rotation, posterize,
    ...), a shift, then a random rectangle erased (Cutout): the digit is still a digit to a
    person, but its pixels have changed a lot."""
    return keras.Sequential([
        layers.RandAugment(value_range=(0, 1), num_ops=2, factor=0.5, seed=seed),
        layers.RandomTranslation(0.125, 0.125, fill_mode="constant", seed=seed),
        layers.RandomErasing(factor=1.0, scale=(0.02, 0.25), value_range=(0, 1), seed=seed),
    ], name="strong_augment")


def semi_supervised_loss(y, z_x, z_weak, z_view, *, threshold: float, weight: float):
    """``(loss, share of confident guesses)`` of one batch of :class:`SemiSupervised` from the
    logits of the labelled images ``z_x``, of the unlabelled images' weak views ``z_weak``
    (the guesses, not differentiated) and of the views trained on ``z_view``:
    ``mean CE(y, z_x) + weight * mean_u 1(max q_u >= threshold) CE(argmax q_u, z_view_u)``."""
    import tensorflow as tf

    q = tf.stop_gradient(tf.nn.softmax(z_weak))
    mask = tf.cast(tf.reduce_max(q, axis=1) >= threshold, z_x.dtype)
    supervised = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        y, z_x, from_logits=True))
    unsupervised = tf.reduce_mean(mask * keras.losses.sparse_categorical_crossentropy(
        tf.argmax(q, axis=1), z_view, from_logits=True))
    return supervised + weight * unsupervised, tf.reduce_mean(mask)


class SemiSupervised(keras.Model):
    """Trains ``classifier`` on batches ``((labelled x, unlabelled u), labels)``
    (``datasets.images.FewLabels.train(unlabelled_ratio=mu)``; batches ``(x, labels)`` train
    on the labelled images' weak views alone, the baseline):

    ``loss = CE(y, f(weak(x))) + weight * mean_u[1(max q >= threshold) CE(argmax q, f(view(u)))]``

    where ``q = f(weak(u))`` with no gradient, and ``view`` is ``strong`` (FixMatch) or the
    same weak view (pseudo-labelling). ``call`` is the classifier's; compile it like the
    classifier. The metrics add ``confident``: the share of unlabelled images above the
    threshold in the batch. Build the classifier without augmentation: the views are made
    here.
    """

    def __init__(self, classifier: keras.Model, *, strong: keras.Layer | None = None,
                 threshold: float = 0.95, weight: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{classifier.name}_semi"), **kwargs)
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight!r}")
        self.classifier, self.strong = classifier, strong
        self.weak = weak_augment(seed)
        self.threshold, self.weight = threshold, weight
        self.confident = keras.metrics.Mean(name="confident")

    def build(self, input_shape=None):  # the classifier is built already
        self.built = True

    def call(self, x, training=False):
        if isinstance(x, (tuple, list)):  # (labelled, unlabelled): the labelled images' answer
            x = x[0]
        return self.classifier(x, training=training)

    def train_step(self, data):
        import tensorflow as tf

        inputs, y = data
        if not isinstance(inputs, (tuple, list)):  # labelled batches only: supervised
            return self._supervised_step(inputs, y)
        x, u = inputs
        weak_u = self.weak(u, training=True)
        view_u = self.strong(u, training=True) if self.strong is not None else weak_u
        n_x, n_u = tf.shape(x)[0], tf.shape(u)[0]
        with tf.GradientTape() as tape:
            # one forward pass over all views, so batch norm sees them together
            z = logits(self.classifier, tf.concat(
                [self.weak(x, training=True), weak_u, view_u], 0), training=True)
            z_x, z_weak, z_view = tf.split(z, [n_x, n_u, n_u])
            loss, confident = semi_supervised_loss(y, z_x, z_weak, z_view,
                                                   threshold=self.threshold, weight=self.weight)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return report(self, y, tf.nn.softmax(z_x), loss, {"confident": confident})

    def _supervised_step(self, x, y):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            z = logits(self.classifier, self.weak(x, training=True), training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                y, z, from_logits=True))
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return report(self, y, tf.nn.softmax(z), loss, {"confident": 0.0})

    def test_step(self, data):
        """The usual evaluation, and ``confident``: the share of the images whose top
        probability reaches the threshold (those the step would have trained on)."""
        import tensorflow as tf

        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        confident = tf.reduce_mean(tf.cast(tf.reduce_max(y_pred, axis=1) >= self.threshold,
                                           y_pred.dtype))
        return report(self, y, y_pred, loss, {"confident": confident})


def distillation_loss(y, student_logits, teacher_logits, *, temperature: float, alpha: float):
    """``alpha * CE(y, softmax(s)) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))``,
    averaged over the batch. The ``T^2`` keeps the soft term's gradient the same size
    whatever the temperature (its gradient in ``s`` scales as ``1 / T^2``)."""
    import tensorflow as tf

    hard = keras.losses.sparse_categorical_crossentropy(y, student_logits, from_logits=True)
    soft = keras.losses.kl_divergence(tf.nn.softmax(teacher_logits / temperature),
                                      tf.nn.softmax(student_logits / temperature))
    return tf.reduce_mean(alpha * hard + (1 - alpha) * temperature**2 * soft)


class Distiller(keras.Model):
    """Trains ``student`` on :func:`distillation_loss` against a trained ``teacher`` (frozen,
    in inference mode). ``call`` is the student's; compile it like the student. Both models
    end in a softmax ``Dense`` layer (``models.trust.logits`` reads their logits).
    ``augment`` (a layer, such as ``vision.augmentation("clothes")``) changes each batch
    before both see it, so the teacher explains the very image the student learns from;
    build the student without augmentation of its own."""

    def __init__(self, student: keras.Model, teacher: keras.Model, *, temperature: float = 4.0,
                 alpha: float = 0.1, augment: keras.Layer | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{student.name}_distilled"), **kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.temperature, self.alpha, self.augment = temperature, alpha, augment

    def build(self, input_shape=None):  # student and teacher are built already
        self.built = True

    def call(self, x, training=False):
        return self.student(x, training=training)

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        if self.augment is not None:
            x = self.augment(x, training=True)
        teacher_logits = logits(self.teacher, x, training=False)
        with tf.GradientTape() as tape:
            student_logits = logits(self.student, x, training=True)
            loss = distillation_loss(y, student_logits, teacher_logits,
                                     temperature=self.temperature, alpha=self.alpha)
        variables = self.student.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return report(self, y, tf.nn.softmax(student_logits), loss)

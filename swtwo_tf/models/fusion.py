"""Two senses, one decision: fusing an image model and a speech model (chapter 10).

The encoders are the chapters' own classifiers, trained alone (MNIST's ``convnet``, the
spoken-digit CRNN ``rnn_classifier``) and then left as they are: each one's last hidden layer is its
*features* (:func:`encoder`), its last layer its *logits*. A fusion head learns how to join
them; it trains on features computed once (:func:`encode`), in seconds, and
:func:`fused_model` puts encoders and head back together into one model that takes an image
and a recording.

- :func:`late_fusion`: combine the two models' logits, averaged or with learned weights;
- :func:`early_fusion`: concatenate the features, one joint head;
- :func:`gated_fusion`: a learned gate mixes the two (a gated multimodal unit);
- ``modality_dropout``: each head can be trained with one input removed at random
  (``layers.fusion.ModalityDropout``), so that it still works when one is missing;
- :func:`with_noisy_copies`: training features of noisy copies of the pairs, so that a head
  also learns what a sense that is present but *wrong* looks like;
- :class:`ContrastivePair` and :func:`clip_loss`: projections of both modalities into one
  embedding space, trained with a CLIP-style loss in a ``train_step`` of its own.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import layers, ops

from swtwo_tf import config
from swtwo_tf.datasets import multimodal
from swtwo_tf.layers.fusion import LogitWeights, ModalityDropout

MODALITIES = ("image", "audio")
_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def encoder(classifier: keras.Model) -> keras.Model:
    """``classifier`` without its last layer: input -> the features its softmax layer reads.
    Its layers are ``classifier``'s own (the same weights, not a copy); one per classifier."""
    if classifier not in _ENCODERS:
        last = classifier.layers[-1]
        if not isinstance(last, layers.Dense):
            raise ValueError(f"{classifier.name}: the last layer must be the Dense classifier, "
                             f"got {type(last).__name__}")
        inputs = classifier.inputs[0] if len(classifier.inputs) == 1 else classifier.inputs
        _ENCODERS[classifier] = keras.Model(inputs, last.input,
                                            name=f"{classifier.name}_features")
    return _ENCODERS[classifier]


def logits_layer(classifier: keras.Model, name: str) -> layers.Dense:
    """A frozen copy of ``classifier``'s softmax layer without the softmax: features -> logits."""
    last = classifier.layers[-1]
    dense = layers.Dense(last.units, name=name, trainable=False)
    dense.build((None, last.kernel.shape[0]))
    dense.set_weights(last.get_weights())
    return dense


def absent_features(image_model: keras.Model, audio_model: keras.Model) -> list[np.ndarray]:
    """What each encoder gives for an empty input: a black image, a silent recording."""
    return [encoder(model)(np.zeros((1, *model.input_shape[1:]), "float32"))[0].numpy()
            for model in (image_model, audio_model)]


def feature_inputs(image_model: keras.Model, audio_model: keras.Model, *,
                   modality_dropout: float = 0.0, seed: int | None = 42):
    """``(inputs, image features, audio features)`` that every fusion head starts from: two
    ``keras.Input`` of the encoders' feature sizes, passed through ``ModalityDropout`` when
    ``modality_dropout`` > 0."""
    inputs = [keras.Input((encoder(m).output.shape[-1],), name=f"{kind}_features")
              for m, kind in zip((image_model, audio_model), MODALITIES, strict=True)]
    image, audio = inputs
    if modality_dropout:
        drop = ModalityDropout(modality_dropout, seed=seed, name="modality_dropout")
        image, audio = drop(inputs)
        drop.set_absent(*absent_features(image_model, audio_model))
    return inputs, image, audio


def late_fusion(image_model: keras.Model, audio_model: keras.Model, *, learned: bool = True,
                modality_dropout: float = 0.0, seed: int | None = 42,
                name: str = "late_fusion") -> keras.Model:
    """Join the two classifiers' decisions: softmax of their logits averaged, or weighted by
    two learned numbers plus a learned bias per class (``learned=True``)."""
    inputs, image, audio = feature_inputs(image_model, audio_model,
                                          modality_dropout=modality_dropout, seed=seed)
    z_image = logits_layer(image_model, "image_logits")(image)
    z_audio = logits_layer(audio_model, "audio_logits")(audio)
    if learned:
        z = LogitWeights(name="logit_weights")([z_image, z_audio])
    else:
        z = layers.Average(name="average")([z_image, z_audio])
    outputs = layers.Softmax()(z)
    return keras.Model(inputs, outputs, name=name)


def early_fusion(image_model: keras.Model, audio_model: keras.Model, *, units: int = 128,
                 dropout: float = 0.3, modality_dropout: float = 0.0, seed: int | None = 42,
                 name: str = "early_fusion") -> keras.Model:
    """Join the features: concatenate them and learn one classifier on both."""
    inputs, image, audio = feature_inputs(image_model, audio_model,
                                          modality_dropout=modality_dropout, seed=seed)
    x = layers.Concatenate()([image, audio])
    x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout, seed=seed)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def gated_fusion(image_model: keras.Model, audio_model: keras.Model, *, units: int = 64,
                 dropout: float = 0.3, modality_dropout: float = 0.0, seed: int | None = 42,
                 name: str = "gated_fusion") -> keras.Model:
    """A gated multimodal unit: each modality's features become ``h = tanh(W f)``, and a gate
    ``g = sigmoid(W_g [f_image; f_audio])``, read from both, mixes them unit by unit:
    ``g * h_image + (1 - g) * h_audio``. The layers named ``"gate"`` and ``"mixed"`` give ``g``
    and the mixture."""
    inputs, image, audio = feature_inputs(image_model, audio_model,
                                          modality_dropout=modality_dropout, seed=seed)
    h_image = layers.Dense(units, activation="tanh", name="image_hidden")(image)
    h_audio = layers.Dense(units, activation="tanh", name="audio_hidden")(audio)
    gate = layers.Dense(units, activation="sigmoid", name="gate")(
        layers.Concatenate()([image, audio]))
    mixed = layers.Add(name="mixed")([h_audio, layers.Multiply()([gate, layers.Subtract()(
        [h_image, h_audio])])])  # g * h_image + (1 - g) * h_audio
    x = layers.Dropout(dropout, seed=seed)(mixed)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


HEADS = {"late_average": lambda i, a, **kw: late_fusion(i, a, learned=False, **kw),
         "late_learned": late_fusion, "early": early_fusion, "gated": gated_fusion}
#: The rate of modality dropout chapter 10 trains with ("+ MD" below).
MODALITY_DROPOUT = 0.3
#: Chapter 10's fusion models: name -> (kind of head in HEADS, modality dropout rate). The
#: plain average has nothing to learn, so it is not trained.
VARIANTS = {"late average": ("late_average", 0.0), "late learned": ("late_learned", 0.0),
            "late learned + MD": ("late_learned", MODALITY_DROPOUT),
            "early": ("early", 0.0), "early + MD": ("early", MODALITY_DROPOUT),
            "gated": ("gated", 0.0), "gated + MD": ("gated", MODALITY_DROPOUT)}
#: Epochs of each head and of the contrastive embedding, on the features of 54,000 pairs.
EPOCHS = 5


def encode(image_model: keras.Model, audio_model: keras.Model, pairs: multimodal.Pairs, *,
           image: tuple[str, float] | None = None, audio: tuple[str, float] | None = None,
           seed: int = 0) -> list[np.ndarray]:
    """``[image features, audio features]`` of every pair, computed once so that fusion heads
    train and are tested in seconds.

    ``image=("noise", 0.6)`` corrupts the images first (``multimodal.corrupt_images``),
    ``audio=("dropout", 0.5)`` the recordings (``multimodal.corrupt_audio``). Each recording is
    encoded (and corrupted) once, however many pairs share it.
    """
    return [encode_images(image_model, pairs, image, seed=seed),
            encode_audio(audio_model, pairs, audio, seed=seed)]


def encode_images(image_model: keras.Model, pairs: multimodal.Pairs,
                  corruption: tuple[str, float] | None = None, *, seed: int = 0) -> np.ndarray:
    """The image half of :func:`encode`."""
    images = pairs.images
    if corruption is not None:
        images = multimodal.corrupt_images(images, *corruption, seed=seed)
    return features_of(image_model, images)


def encode_audio(audio_model: keras.Model, pairs: multimodal.Pairs,
                 corruption: tuple[str, float] | None = None, *, seed: int = 0) -> np.ndarray:
    """The audio half of :func:`encode`: each recording encoded once, then one row per pair."""
    recordings, which = np.unique(pairs.recording_ids, return_inverse=True)
    waves = pairs.recordings.waves[recordings]
    if corruption is not None:
        waves = multimodal.corrupt_audio(waves, *corruption, seed=seed)
    return features_of(audio_model, waves)[which]


#: Noise severities of :func:`with_noisy_copies`: each sense's noise at each of them.
NOISY_COPY_SEVERITIES = (0.25, 0.5, 1.0)
#: Quick mode: training pairs in each noisy copy (the run trains a few dozen batches).
QUICK_COPY_PAIRS = 1_000
#: Chapter 10's models trained on noisy copies as well (:func:`with_noisy_copies`): name ->
#: (kind of head in HEADS, modality dropout rate), as in :data:`VARIANTS`.
NOISY_VARIANTS = {"early + MD + noisy copies": ("early", MODALITY_DROPOUT),
                  "gated + MD + noisy copies": ("gated", MODALITY_DROPOUT)}


def with_noisy_copies(image_model: keras.Model, audio_model: keras.Model,
                      pairs: multimodal.Pairs, features: dict, labels: dict, *,
                      severities=NOISY_COPY_SEVERITIES, seed: int = 0) -> tuple[dict, dict]:
    """``features`` and ``labels`` (what ``training.train_heads`` takes: ``"train"`` and
    ``"validation"`` parts) with noisy copies added to the training part, so that a head sees
    what each encoder passes on when its sense is *wrong*, not only when it is missing.

    The training ``pairs`` are shuffled and cut into ``2 * len(severities)`` equal parts; each
    part is encoded once more with one sense's noise at one severity (the image's, then the
    speech's: ``multimodal.corrupt_images``/``corrupt_audio``, kind ``"noise"``) and the other
    sense clean, keeping the pair's digit. The other corruptions (blur, occlusion, clipping,
    dropout) are never shown: they test what the copies teach beyond themselves. Quick mode
    copies :data:`QUICK_COPY_PAIRS` pairs a part. Deterministic for a ``seed``.
    """
    if len(pairs) != len(labels["train"]) or len(pairs) != len(features["train"][0]):
        raise ValueError(f"pairs must be the training pairs of features['train'] and "
                         f"labels['train'] ({len(labels['train'])} rows), got {len(pairs)}")
    if not severities:
        raise ValueError("severities is empty: give at least one noise severity in (0, 1]")
    jobs = [(modality, s) for modality in MODALITIES for s in severities]
    size = len(pairs) // len(jobs)
    if config.quick_mode():
        size = min(size, QUICK_COPY_PAIRS)
    order = np.random.default_rng(seed).permutation(len(pairs))
    copies, copy_labels = [], []
    for k, (modality, severity) in enumerate(jobs):
        part = pairs.subset(np.sort(order[k * size:(k + 1) * size]))
        copies.append(encode(image_model, audio_model, part, seed=seed + k,
                             **{modality: ("noise", severity)}))
        copy_labels.append(part.labels)
    train = [np.concatenate([features["train"][m], *(c[m] for c in copies)]) for m in range(2)]
    return ({**features, "train": train},
            {**labels, "train": np.concatenate([labels["train"], *copy_labels])})


#: Inputs :func:`features_of` runs through an encoder at once.
ENCODE_BATCH = 500
_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def features_of(classifier: keras.Model, inputs) -> np.ndarray:
    """The features ``encoder(classifier)`` gives for ``inputs`` (a NumPy array), in batches of
    :data:`ENCODE_BATCH` through one traced function per encoder (``predict`` would build a new
    loop on every call; a sweep makes dozens of calls)."""
    import tensorflow as tf

    if classifier not in _TRACED:
        _TRACED[classifier] = tf.function(lambda x: encoder(classifier)(x, training=False),
                                          reduce_retracing=True)  # any batch size, one trace
    run = _TRACED[classifier]
    inputs = np.asarray(inputs, dtype=np.float32)
    return np.concatenate([run(inputs[start:start + ENCODE_BATCH]).numpy()
                           for start in range(0, len(inputs), ENCODE_BATCH)])


def single_modality(model: keras.Model, features) -> np.ndarray:
    """The class probabilities ``model`` (a classifier) gives from its own features."""
    return np.asarray(model.layers[-1](features))


def fused_model(image_model: keras.Model, audio_model: keras.Model, head: keras.Model,
                name: str | None = None) -> keras.Model:
    """One model from image and recording to digit: both encoders, then ``head``. Its inputs
    are named ``"image"`` and ``"waveform"`` (what ``datasets.multimodal.pipeline`` yields)."""
    image = keras.Input(image_model.input_shape[1:], name="image")
    waveform = keras.Input(audio_model.input_shape[1:], name="waveform")
    outputs = head([encoder(image_model)(image), encoder(audio_model)(waveform)])
    return keras.Model({"image": image, "waveform": waveform}, outputs,
                       name=name or f"{head.name}_model")


# ---------------------------------------------------------------- a shared embedding


def clip_loss(similarity):
    """The CLIP loss of a batch's similarity matrix ``S`` (``S[i, j]``: image ``i`` against
    recording ``j``, the matching pairs on the diagonal): the mean of the cross-entropy of
    each row and of each column against its diagonal entry."""
    labels = ops.arange(ops.shape(similarity)[0])
    rows = keras.losses.sparse_categorical_crossentropy(labels, similarity, from_logits=True)
    columns = keras.losses.sparse_categorical_crossentropy(labels, ops.transpose(similarity),
                                                           from_logits=True)
    return (ops.mean(rows) + ops.mean(columns)) / 2


@keras.saving.register_keras_serializable(package="swtwo")
class ContrastivePair(keras.Model):
    """Two projections, image features -> R^dim and audio features -> R^dim, trained so that
    an image and a recording of the same pair land close together (cosine similarity), and
    other pairs apart.

    ``call((image_features, audio_features))`` returns the similarity matrix
    ``S = exp(t) * u v^T`` of the L2-normalised embeddings ``u`` (images) and ``v``
    (recordings); ``t``, the log of the inverse temperature, is learned (started at
    ``log(1 / temperature)``). ``train_step`` minimises :func:`clip_loss` of it: no digit label
    is used.

    With ``image_encoder`` and ``audio_encoder`` (Keras models, trained with the projections;
    not part of ``get_config``), the inputs are raw pairs instead, ``{"image": ...,
    "waveform": ...}`` as ``datasets.multimodal.pipeline`` yields them: the whole embedding is
    then learned from the pairs alone (``benchmarks/multimodal.py``, "from scratch").
    """

    def __init__(self, dim: int = 64, hidden: int = 128, temperature: float = 0.07,
                 image_encoder: keras.Model | None = None,
                 audio_encoder: keras.Model | None = None, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.hidden, self.temperature = dim, hidden, temperature
        self.encoders = {"image": image_encoder, "audio": audio_encoder}
        self.image_projection = keras.Sequential(
            [layers.Dense(hidden, activation="relu"), layers.Dense(dim)], name="image_proj")
        self.audio_projection = keras.Sequential(
            [layers.Dense(hidden, activation="relu"), layers.Dense(dim)], name="audio_proj")
        self.log_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(float(np.log(1 / temperature))),
            name="log_scale")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def embed(self, x, modality: str, training=False):
        """Unit-length embeddings of one modality's features (or raw inputs, with encoders)."""
        if self.encoders[modality] is not None:
            x = self.encoders[modality](x, training=training)
        projection = {"image": self.image_projection, "audio": self.audio_projection}[modality]
        return ops.normalize(projection(x), axis=-1)

    def call(self, inputs, training=False):
        image, audio = ((inputs["image"], inputs["waveform"]) if isinstance(inputs, dict)
                        else inputs)
        scale = ops.exp(ops.minimum(self.log_scale, float(np.log(100.0))))  # CLIP caps it at 100
        return scale * ops.matmul(self.embed(image, "image", training),
                                  ops.transpose(self.embed(audio, "audio", training)))

    @staticmethod
    def _inputs(data):
        """The pair of a batch, whether the pipeline also yields labels or not."""
        if len(data) == 2 and isinstance(data[0], tuple | list | dict):
            return data[0]  # (pair, labels): the labels are not used
        return data

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = clip_loss(self(self._inputs(data), training=True))
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        self.loss_tracker.update_state(clip_loss(self(self._inputs(data), training=False)))
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "hidden": self.hidden,
                "temperature": self.temperature}

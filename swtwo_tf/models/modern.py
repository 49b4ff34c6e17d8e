"""Chapter 07's architectures: the building blocks that replaced plain conv stacks, and small
networks for 28x28 grey images built from them.

- :func:`conv_bn`: convolution -> batch norm -> ReLU, the unit every block below repeats.
- :func:`residual_unit`: ``y = ReLU(F(x) + x)``, with a 1x1 projection shortcut when the
  shape changes (He et al. 2016); :func:`resnet` stacks them (``shortcuts=False`` gives the
  same network without them, the "deep plain net" the chapter compares).
- :func:`inception_module`: parallel 1x1, 3x3 and 5x5 branches and a pooled branch,
  concatenated (Szegedy et al. 2015); :func:`inception_net`.
- :func:`separable_unit`: a depthwise 3x3 convolution then a pointwise 1x1 one (MobileNet,
  Howard et al. 2017); :func:`separable_net`.
- :func:`student_cnn`: a small plain CNN, the student of distillation (``models.few_labels``).

Every network ends in a ``Dense(10, softmax)`` (``classes=`` changes the 10), after global
average pooling in all but the student, so ``models.trust.logits`` and the chapters'
evaluation work on all of them.
"""

from __future__ import annotations

import keras
from keras import layers

from swtwo_tf.layers.normalization import FusedBatchNormalization
from swtwo_tf.models.recipes import Recipe, register
from swtwo_tf.models.vision import AUGMENTATIONS, INPUT_SHAPE, augmentation


def conv_bn(x, filters: int, size: int = 3, strides: int = 1, *, batch_norm: bool = True,
            activation: bool = True, name: str | None = None):
    """``ReLU(BN(conv(x)))``; the convolution has no bias when batch norm follows (BN's
    shift replaces it). ``activation=False`` stops after the norm (a residual branch's end)."""
    x = layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=not batch_norm,
                      name=name)(x)
    if batch_norm:
        x = FusedBatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x) if activation else x


def residual_unit(x, filters: int, strides: int = 1, *, shortcut: bool = True,
                  batch_norm: bool = True):
    """``y = ReLU(F(x) + s(x))``: ``F`` is two 3x3 convolutions (the first with ``strides``),
    ``s`` is ``x`` itself, or a 1x1 convolution (a *projection*) when ``F`` changes the shape.
    With ``strides`` the projection reads the average of each patch rather than one pixel in
    four (as in "ResNet-D", He et al. 2019: the strided 1x1 convolution of the original ResNet
    throws three quarters of the input away; it also crashed TensorFlow's oneDNN kernels on an
    AMX CPU with under 16 channels). ``shortcut=False`` returns ``ReLU(F(x))``: the same
    layers as a plain stack."""
    f = conv_bn(x, filters, 3, strides, batch_norm=batch_norm)
    f = conv_bn(f, filters, 3, batch_norm=batch_norm, activation=False)
    if not shortcut:
        return layers.Activation("relu")(f)
    s = x
    if strides != 1:  # average each 2x2 patch, then project (see the docstring)
        s = layers.AveragePooling2D(strides, padding="same")(s)
    if strides != 1 or x.shape[-1] != filters:
        s = conv_bn(s, filters, 1, batch_norm=batch_norm, activation=False)
    return layers.Activation("relu")(layers.Add()([f, s]))


def _head(x, inputs, dropout: float, classes: int, name: str) -> keras.Model:
    """Global average pooling (one number per feature map), dropout, softmax."""
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x), name=name)


def _input(augment: str | None):
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
    inputs = keras.Input(INPUT_SHAPE)
    return inputs, augmentation(augment)(inputs) if augment else inputs


def _check_widths(widths, units) -> None:
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be positive ints, one per stage, got {widths!r}")
    if not isinstance(units, int) or units < 1:
        raise ValueError(f"units must be a positive int (units per stage), got {units!r}")


def resnet(augment: str | None = "clothes", *, widths: tuple[int, ...] = (16, 32, 64),
           units: int = 2, shortcuts: bool = True, batch_norm: bool = True,
           stem_pool: bool = False, dropout: float = 0.0, classes: int = 10,
           name: str = "resnet") -> keras.Model:
    """A small ResNet for 28x28 images: a 3x3 stem, then one stage per width of ``units``
    residual units (each stage after the first halves the image: 28 -> 14 -> 7), global
    average pooling, softmax. ``2 * units * len(widths) + 1`` convolutions deep.

    ``shortcuts=False`` (and ``batch_norm=False``) build the same stack without them, the
    comparison of "why depth needs shortcuts". ``stem_pool=True`` max-pools after the stem,
    as the ImageNet ResNet does: every stage then sees a quarter of the positions, so twice
    the widths cost about the same multiply-adds.
    """
    _check_widths(widths, units)
    inputs, x = _input(augment)
    x = conv_bn(x, widths[0], batch_norm=batch_norm)
    if stem_pool:
        x = layers.MaxPooling2D(2)(x)
    for stage, width in enumerate(widths):
        for unit in range(units):
            strides = 2 if stage > 0 and unit == 0 else 1
            x = residual_unit(x, width, strides, shortcut=shortcuts, batch_norm=batch_norm)
    return _head(x, inputs, dropout, classes, name)


def inception_module(x, f1: int, f3: int, f5: int, f_pool: int):
    """Four branches side by side, concatenated along the channels: a 1x1 convolution; a 1x1
    *reduction* to half the width then a 3x3; the same then a 5x5; and a 3x3 max-pool then a
    1x1. The output has ``f1 + f3 + f5 + f_pool`` channels at the input's size."""
    b1 = conv_bn(x, f1, 1)
    b3 = conv_bn(conv_bn(x, max(1, f3 // 2), 1), f3, 3)
    b5 = conv_bn(conv_bn(x, max(1, f5 // 2), 1), f5, 5)
    bp = conv_bn(layers.MaxPooling2D(3, strides=1, padding="same")(x), f_pool, 1)
    return layers.Concatenate()([b1, b3, b5, bp])


def inception_net(augment: str | None = "clothes", *, widths: tuple[int, ...] = (32, 64, 128),
                  dropout: float = 0.0, classes: int = 10,
                  name: str = "inception_net") -> keras.Model:
    """A 3x3 stem, then per width ``w`` one Inception module with branches ``w/4, w/2, w/8,
    w/8`` (``w`` channels out), max-pooling between stages; global average pooling."""
    _check_widths(widths, 1)
    inputs, x = _input(augment)
    x = conv_bn(x, widths[0])
    for stage, width in enumerate(widths):
        if stage > 0:
            x = layers.MaxPooling2D(2)(x)
        x = inception_module(x, width // 4, width // 2, width // 8, width // 8)
    return _head(x, inputs, dropout, classes, name)


def separable_unit(x, filters: int, strides: int = 1):
    """A depthwise 3x3 convolution (one 3x3 filter per input channel, no mixing), then a
    pointwise 1x1 convolution that mixes the channels; batch norm and ReLU after each."""
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(FusedBatchNormalization(momentum=0.9)(x))
    return conv_bn(x, filters, 1)


def separable_net(augment: str | None = "clothes", *, widths: tuple[int, ...] = (32, 64, 128),
                  units: int = 2, dropout: float = 0.0, classes: int = 10,
                  name: str = "separable_net") -> keras.Model:
    """MobileNet-style: a standard 3x3 stem, then ``units`` separable units per width (the
    first of each stage after the first with stride 2), global average pooling."""
    _check_widths(widths, units)
    inputs, x = _input(augment)
    x = conv_bn(x, widths[0])
    for stage, width in enumerate(widths):
        for unit in range(units):
            x = separable_unit(x, width, 2 if stage > 0 and unit == 0 else 1)
    return _head(x, inputs, dropout, classes, name)


def student_cnn(augment: str | None = None, *, widths: tuple[int, ...] = (16, 32),
                dropout: float = 0.25, classes: int = 10,
                name: str = "student_cnn") -> keras.Model:
    """A small plain CNN, distillation's student (``models.few_labels.Distiller``): per width
    a 3x3 convolution and a 2x2 max-pool, then the maps flattened, dropout and the softmax
    (20,634 parameters with the defaults, 8.5 times fewer than the chapter's ResNet)."""
    _check_widths(widths, 1)
    inputs, x = _input(augment)
    for width in widths:
        x = layers.MaxPooling2D(2)(conv_bn(x, width))
    x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x), name=name)


def body(model: keras.Model) -> keras.Model:
    """What a network of this module has learned to see: its layers from after the
    augmentation to the global average pooling, image in, features out (the same layers and
    weights, not a copy). Transfer learning puts a new head on it."""
    pooling = [layer for layer in model.layers
               if isinstance(layer, layers.GlobalAveragePooling2D)]
    if not pooling:
        raise ValueError(f"{model.name!r} has no GlobalAveragePooling2D layer: body() takes a "
                         "network of models.modern")
    first = model.layers[1]
    start = first.output if first.name.startswith("augment_") else model.inputs[0]
    return keras.Model(start, pooling[-1].output, name="body")


def transfer(model: keras.Model, classes: int, *, augment: str | None = "clothes",
             name: str = "transferred") -> keras.Model:
    """A classifier for a new task with ``classes`` classes on a copy of ``model``'s
    :func:`body`, frozen, and a new ``Dense`` softmax head: ``softmax(W body(x) + b)``.

    The body runs in inference mode even while it is fine-tuned later, so its batch norm keeps
    the statistics of the images it learned from (a few new images would overwrite them with
    noisy ones); ``augment`` adds the augmentation back in front of it.
    """
    learned = body(model)
    features = keras.models.clone_model(learned)  # a copy: tuning it leaves model as it was
    features.set_weights(learned.get_weights())
    features.trainable = False
    inputs, x = _input(augment)
    x = features(x, training=False)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x), name=name)


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of one image through the convolutions and dense
    layers (the rest is small change): ``H_out * W_out * k * k * C_in * C_out`` for a
    convolution, ``H_out * W_out * k * k * C_in`` for a depthwise one, ``n_in * n_out`` for a
    dense layer. Twice this is the usual count of FLOPs."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense)):
            kernel = layer.kernel.shape  # (k, k, C_in, C_out or multiplier) or (n_in, n_out)
            positions = 1
            if len(kernel) == 4:
                _, h, w, _ = layer.output.shape
                positions = h * w
            per_position = 1
            for size in kernel:
                per_position *= size
            total += positions * per_position
    return int(total)


#: Chapter 07's transfer experiment on Fashion-MNIST (as in Hands-On Machine Learning, with
#: the hardest pair held out): the base network learns task A, eight classes, for
#: ``PRETRAIN_EPOCHS``; task B, T-shirt/top against shirt, is learned from a few images each.
TASK_A, TASK_B, PRETRAIN_EPOCHS = (1, 2, 3, 4, 5, 7, 8, 9), (0, 6), 8


#: The chapter's architecture table (``benchmarks/modern_cnns.py``): each network trained like
#: chapter 02's convnet (Adam, cosine schedule, batch 256, the "clothes" augmentation). Quick
#: mode trains narrow versions (the same code, fewer channels) for 30 steps; chapter 07's
#: table passes ``quick_steps=20`` for all four networks.
_LIKE_CONVNET = {"batch_size": 256, "learning_rate": 3e-3, "schedule": "cosine",
                 "quick_steps": 30, "quick_kwargs": {"widths": (8, 16, 32)}}
RECIPES: dict[tuple[str, str], Recipe] = {
    ("fashion_mnist", "resnet"): Recipe(resnet, epochs=16, **_LIKE_CONVNET),
    ("fashion_mnist", "inception_net"): Recipe(inception_net, epochs=16, **_LIKE_CONVNET),
    ("fashion_mnist", "separable_net"): Recipe(separable_net, epochs=16, **_LIKE_CONVNET),
    ("fashion_mnist", "student_cnn"): Recipe(student_cnn, epochs=16, batch_size=256,
                                             learning_rate=3e-3, schedule="cosine",
                                             quick_steps=20, kwargs={"augment": "clothes"}),
}
register(RECIPES)

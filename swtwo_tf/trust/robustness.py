"""Accuracy under attack: how far a small change of the input moves an image classifier.

The attacks (``fgsm``, ``pgd``) and the adversarial training step are in
``swtwo_tf.models.trust``; this module measures them.
"""

from __future__ import annotations

import keras
import numpy as np

from swtwo_tf.models import trust as trust_models


def accuracy_under_attack(model: keras.Model, x, y, epsilons, *, attack: str = "pgd",
                          steps: int = 20, batch_size: int = 500, seed: int = 0) -> dict:
    """``{epsilon: accuracy}`` of ``model`` on images ``x`` (in [0, 1]) with labels ``y``,
    each batch attacked with ``attack`` ("fgsm", or "pgd" with ``steps`` steps and a random
    start) at each L-infinity radius in ``epsilons`` (0 is clean accuracy)."""
    import tensorflow as tf

    if attack not in trust_models.ATTACKS:
        raise ValueError(f"attack must be one of {trust_models.ATTACKS}, got {attack!r}")
    x, y = np.asarray(x, "float32"), np.asarray(y)
    if len(x) != len(y) or x.ndim != 4:
        raise ValueError(f"x must be images (n, h, w, c) with one label each; got x "
                         f"{x.shape} and y {y.shape}")

    for epsilon in epsilons:
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon is a change of pixel value in [0, 1], got {epsilon!r}")

    @tf.function(reduce_retracing=True)  # traced once: the radius is a tensor
    def attacked(xb, yb, epsilon):
        if attack == "fgsm":
            return trust_models.fgsm(model, xb, yb, epsilon)
        return trust_models.pgd(model, xb, yb, epsilon, steps=steps, seed=seed)

    results = {}
    for epsilon in epsilons:
        correct = 0
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            if epsilon > 0:
                xb = attacked(xb, yb, tf.constant(epsilon, tf.float32))
            correct += int(np.sum(np.argmax(model(xb, training=False), axis=-1) == yb))
        results[float(epsilon)] = correct / len(x)
    return results

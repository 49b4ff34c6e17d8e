"""Privacy, measured: DP-SGD's budget epsilon and a membership-inference attack.

The DP-SGD step itself is ``swtwo_tf.models.trust.PrivateTraining``; its batches come from
``swtwo_tf.datasets.images.poisson_batches``.
"""

from __future__ import annotations

import keras
import numpy as np

#: The delta of every epsilon the kit reports: below 1 / (training examples), as usual.
DELTA = 1e-5


def _accountant():
    try:
        import dp_accounting
        from dp_accounting import rdp
    except ImportError as err:  # pragma: no cover - in requirements.txt
        raise ImportError("the privacy budget needs the dp-accounting package: "
                          "pip install -r requirements.txt") from err
    return dp_accounting, rdp


def epsilon(noise_multiplier: float, sample_rate: float, steps: int,
            delta: float = DELTA) -> float:
    """The (epsilon, delta) guarantee of ``steps`` DP-SGD steps on Poisson-sampled batches
    (each example in a batch with probability ``sample_rate``) with Gaussian noise of
    ``noise_multiplier`` times the clipping norm: the Renyi-DP accountant of
    ``dp-accounting`` (Mironov 2017), converted to epsilon at ``delta``."""
    if not noise_multiplier > 0:
        raise ValueError(f"noise_multiplier must be positive (no noise: no privacy), "
                         f"got {noise_multiplier!r}")
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    dp_accounting, rdp = _accountant()
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sample_rate,
                                            dp_accounting.GaussianDpEvent(noise_multiplier)),
        steps)
    accountant = rdp.RdpAccountant()
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


def example_losses(model: keras.Model, x, y, batch_size: int = 1000) -> np.ndarray:
    """Each example's cross-entropy under ``model`` (a softmax classifier)."""
    x, y = np.asarray(x), np.asarray(y)
    p = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                        for i in range(0, len(x), batch_size)])
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))


def membership_auc(model: keras.Model, members, non_members) -> float:
    """The loss-threshold membership-inference attack (Yeom et al. 2018): guess "was in the
    training set" when an example's loss is low. Returns the attack's ROC AUC over
    ``members`` and ``non_members`` (each ``(images, labels)``): 0.5 is a coin toss, 1.0
    tells every training example apart."""
    from sklearn.metrics import roc_auc_score

    inside, outside = example_losses(model, *members), example_losses(model, *non_members)
    truth = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    return float(roc_auc_score(truth, -np.r_[inside, outside]))

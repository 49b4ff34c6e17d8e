"""Chapter 09's code exercises (see :mod:`swtwo_tf.exercises`): FGSM from a gradient,
integrated gradients with a Riemann sum, per-example gradient clipping, and the
membership-inference AUC by counting pairs."""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# ---------------------------------------------------------------- 9.1 FGSM


def fgsm_numpy(x, gradient, epsilon):
    """``clip(x + epsilon * sign(gradient), 0, 1)``."""
    return np.clip(np.asarray(x) + epsilon * np.sign(gradient), 0.0, 1.0)


def _unclipped(x, gradient, epsilon):
    """A mistake: the step is right but pixels may leave [0, 1]."""
    return np.asarray(x) + epsilon * np.sign(gradient)


def _check_fgsm(answer) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((4, 6, 6, 1)).astype("float32")
    x[0, 0, 0, 0], x[0, 0, 1, 0] = 0.0, 1.0
    gradient = rng.normal(size=x.shape)
    gradient[0, 0, 0, 0], gradient[0, 0, 1, 0] = -1.0, 1.0  # pushes out of range
    for epsilon in (0.1, 0.3):
        got = np.asarray(answer(x, gradient, epsilon))
        if got.shape == x.shape and np.allclose(got, x + epsilon * gradient):
            raise ExerciseError("you stepped along the gradient itself: FGSM steps by "
                                "epsilon along its sign, so every pixel moves by epsilon")
        if got.shape == x.shape and (got.min() < 0 or got.max() > 1):
            raise ExerciseError("some pixels left [0, 1]: clip the result, images have no "
                                "pixel darker than black or brighter than white")
        close(got, fgsm_numpy(x, gradient, epsilon), f"FGSM at epsilon {epsilon}")


# ---------------------------------------------------------------- 9.2 integrated gradients


def integrated(f_grad, x, baseline, steps):
    """``(x - x') * mean_k f_grad(x' + k/m (x - x'))`` for k = 1..m (right Riemann sum)."""
    x, baseline = np.asarray(x, "float64"), np.asarray(baseline, "float64")
    alphas = np.arange(1, steps + 1) / steps
    points = baseline[None] + alphas.reshape(-1, *[1] * x.ndim) * (x - baseline)[None]
    return (x - baseline) * np.asarray(f_grad(points)).mean(axis=0)


def _no_difference(f_grad, x, baseline, steps):
    """A mistake: the averaged gradient, not multiplied by (x - baseline)."""
    x, baseline = np.asarray(x, "float64"), np.asarray(baseline, "float64")
    alphas = np.arange(1, steps + 1) / steps
    points = baseline[None] + alphas.reshape(-1, *[1] * x.ndim) * (x - baseline)[None]
    return np.asarray(f_grad(points)).mean(axis=0)


def _check_integrated(answer) -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(size=5)

    def f(points):  # z(x) = sum_i w_i x_i^2, so dz/dx = 2 w x
        return (np.asarray(points) ** 2 * w).sum(axis=-1)

    def f_grad(points):
        return 2 * w * np.asarray(points)

    x, baseline = rng.random(5), np.zeros(5)
    got = np.asarray(answer(f_grad, x, baseline, 4))
    if got.shape == x.shape and np.allclose(got, _no_difference(f_grad, x, baseline, 4)):
        raise ExerciseError("multiply the averaged gradient by (x - baseline): IG is a "
                            "path integral, and the path has that length in each coordinate")
    close(got, integrated(f_grad, x, baseline, 4), "IG with 4 intervals")
    fine = np.asarray(answer(f_grad, x, baseline, 2000))
    if not np.isclose(fine.sum(), f(x) - f(baseline), rtol=1e-3):
        raise ExerciseError(f"with 2,000 intervals your attributions sum to {fine.sum():.5f}, "
                            f"but completeness says z(x) - z(x') = {f(x) - f(baseline):.5f}")


# ---------------------------------------------------------------- 9.3 per-example clipping


def clip_per_example(gradients, c):
    """Each row scaled by ``min(1, c / ||row||)``."""
    g = np.asarray(gradients, "float64")
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    return g * np.minimum(1.0, c / np.maximum(norms, 1e-12))


def _clip_batch(gradients, c):
    """A mistake: the whole batch clipped as one vector."""
    g = np.asarray(gradients, "float64")
    return g * min(1.0, c / max(np.linalg.norm(g), 1e-12))


def _check_clip(answer) -> None:
    rng = np.random.default_rng(3)
    g = rng.normal(size=(8, 20)) * rng.uniform(0.01, 3, size=(8, 1))
    g[0] = 0.0  # an example whose gradient is zero
    got = np.asarray(answer(g, 1.0))
    if got.shape == g.shape and np.allclose(got, _clip_batch(g, 1.0)):
        raise ExerciseError("you clipped the batch as one vector: clip each row (each "
                            "example) to norm c, so that no single example can weigh more")
    if got.shape == g.shape and not np.all(np.isfinite(got)):
        raise ExerciseError("a zero gradient gave nan or inf: do not divide by a zero norm")
    close(got, clip_per_example(g, 1.0), "the clipped gradients")


# ---------------------------------------------------------------- 9.4 membership AUC


def membership_auc(member_losses, other_losses):
    """P(member loss < other loss) + P(equal) / 2, over all pairs."""
    a = np.asarray(member_losses)[:, None]
    b = np.asarray(other_losses)[None, :]
    return float(np.mean(a < b) + 0.5 * np.mean(a == b))


def _higher_is_member(member_losses, other_losses):
    """A mistake: the attack reversed (a high loss taken for a member)."""
    return 1.0 - membership_auc(member_losses, other_losses)


def _check_auc(answer) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    members = np.round(rng.exponential(0.2, 60), 1)  # rounded: ties happen
    others = np.round(rng.exponential(0.6, 90), 1)
    truth = np.r_[np.ones(60), np.zeros(90)]
    expected = roc_auc_score(truth, -np.r_[members, others])
    got = float(answer(members, others))
    if np.isclose(got, 1 - expected):
        raise ExerciseError("reversed: a member is guessed by a *low* loss, so count the "
                            "pairs where the member's loss is smaller")
    if not np.isclose(got, expected, atol=1e-9):
        raise ExerciseError(f"you give {got:.4f}, expected {expected:.4f} (do ties count "
                            "one half?)")


register(
    Exercise("09.1", "write fgsm_numpy(x, gradient, epsilon) -> the FGSM images",
             _check_fgsm, fgsm_numpy, _unclipped),
    Exercise("09.2", "write integrated(f_grad, x, baseline, steps) -> integrated gradients "
             "by the right Riemann sum", _check_integrated, integrated, _no_difference),
    Exercise("09.3", "write clip_per_example(gradients, c) -> each row clipped to L2 norm c",
             _check_clip, clip_per_example, _clip_batch),
    Exercise("09.4", "write membership_auc(member_losses, other_losses) -> the attack's AUC",
             _check_auc, membership_auc, _higher_is_member),
)

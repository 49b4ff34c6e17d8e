"""How far a small change of the input moves a classifier, for images, speech and text.

- :func:`accuracy_under_attack`: FGSM or PGD on images (pixels in [0, 1]) or waveforms
  (samples in [-1, 1]); the attacks and the adversarial training step are in
  ``swtwo_tf.models.trust``.
- :func:`accuracy_under_noise`: speech with white noise at falling signal-to-noise ratios.
- :func:`typos` and :func:`swap_words`: text with random character typos or neighbouring
  words exchanged; :func:`typo_attack` puts typos in the words that matter most to the model
  (``trust.explain.word_importance``) and counts how few it takes.
"""

from __future__ import annotations

import keras
import numpy as np

from swtwo_tf.datasets.speech import with_noise
from swtwo_tf.models import trust as trust_models
from swtwo_tf.trust.explain import word_importance, word_key


def _check_inputs(x, y, bounds) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, "float32"), np.asarray(y)
    if len(x) != len(y) or x.ndim < 2:
        raise ValueError(f"x must be a batch of inputs (images (n, h, w, c) or waveforms "
                         f"(n, samples)) with one label each; got x {x.shape} and y {y.shape}")
    low, high = bounds
    if x.size and (x.min() < low or x.max() > high):
        raise ValueError(f"x has values in [{x.min():.3g}, {x.max():.3g}], outside bounds "
                         f"[{low}, {high}] (pixels are scaled to [0, 1], samples to [-1, 1])")
    return x, y


def _accuracy(model, x, y, batch_size: int) -> float:
    correct = sum(int(np.sum(np.argmax(model(x[i:i + batch_size], training=False), axis=-1)
                             == y[i:i + batch_size])) for i in range(0, len(x), batch_size))
    return correct / len(x)


def accuracy_under_attack(model: keras.Model, x, y, epsilons, *, attack: str = "pgd",
                          steps: int = 20, batch_size: int = 500, seed: int = 0,
                          bounds=trust_models.PIXELS) -> dict:
    """``{epsilon: accuracy}`` of ``model`` on inputs ``x`` with labels ``y``, each batch
    attacked with ``attack`` ("fgsm", or "pgd" with ``steps`` steps and a random start) at
    each L-infinity radius in ``epsilons`` (0 is clean accuracy). ``bounds`` is the inputs'
    range: images' pixels in [0, 1] (the default) or ``models.trust.SAMPLES`` for waveforms."""
    import tensorflow as tf

    if attack not in trust_models.ATTACKS:
        raise ValueError(f"attack must be one of {trust_models.ATTACKS}, got {attack!r}")
    x, y = _check_inputs(x, y, bounds)
    for epsilon in epsilons:
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon is a change of pixel value in [0, 1], got {epsilon!r}")

    @tf.function(reduce_retracing=True)  # traced once: the radius is a tensor
    def attacked(xb, yb, epsilon):
        if attack == "fgsm":
            return trust_models.fgsm(model, xb, yb, epsilon, bounds=bounds)
        return trust_models.pgd(model, xb, yb, epsilon, steps=steps, seed=seed, bounds=bounds)

    results = {}
    for epsilon in epsilons:
        xe = x if epsilon == 0 else np.concatenate([
            np.asarray(attacked(x[i:i + batch_size], y[i:i + batch_size],
                                tf.constant(epsilon, tf.float32)))
            for i in range(0, len(x), batch_size)])
        results[float(epsilon)] = _accuracy(model, xe, y, batch_size)
    return results


def accuracy_under_noise(model: keras.Model, waves, y, snrs, *, seed: int = 0,
                         padding: bool = True, batch_size: int = 250) -> dict:
    """``{snr: accuracy}`` of a speech ``model`` on ``waves`` (``(n, samples)``) with white
    noise at each signal-to-noise ratio of ``snrs`` in dB (``None``: clean), by
    ``datasets.speech.with_noise``: over the whole window, or with ``padding=False`` over
    each recording only (its padding left digitally silent)."""
    waves, y = _check_inputs(waves, y, trust_models.SAMPLES)
    return {snr: _accuracy(model, waves if snr is None else with_noise(
        waves, snr, seed=seed, padding=padding), y, batch_size) for snr in snrs}


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(word: str, rng) -> str:
    """One random typo in ``word``: two neighbouring letters swapped, one dropped, one
    doubled or one replaced, drawn until the word changes; a word of fewer than two letters
    is left as it is."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if len(letters) < 2:
        return word
    for _ in range(20):
        kind = rng.integers(4)  # a swap needs a letter after the one drawn
        i = letters[rng.integers(len(letters) - 1 if kind == 0 else len(letters))]
        if kind == 0:
            changed = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif kind == 1:
            changed = word[:i] + word[i + 1:]
        elif kind == 2:
            changed = word[:i] + word[i] + word[i:]
        else:
            changed = word[:i] + _LETTERS[rng.integers(26)] + word[i + 1:]
        if changed != word:
            return changed
    return word[:i] + word[i + 1:]  # a letter dropped always changes the word


def _check_rate(rate: float) -> float:
    if not 0 <= rate <= 1:
        raise ValueError(f"rate is a fraction of the words, in [0, 1]; got {rate!r}")
    return float(rate)


def typos(texts, rate: float, *, seed: int = 0) -> list[str]:
    """Each text with a :func:`typo` in each word with probability ``rate`` (words are
    split at white space); deterministic for a ``seed``."""
    rate, rng = _check_rate(rate), np.random.default_rng(seed)
    return [" ".join(typo(w, rng) if rng.random() < rate else w for w in str(t).split())
            for t in texts]


def swap_words(texts, rate: float, *, seed: int = 0) -> list[str]:
    """Each text with neighbouring words exchanged: reading left to right, a word changes
    place with the next one with probability ``rate`` (a word moves once at most)."""
    rate, rng = _check_rate(rate), np.random.default_rng(seed)
    out = []
    for text in texts:
        words, i = str(text).split(), 0
        while i < len(words) - 1:
            if rng.random() < rate:
                words[i], words[i + 1] = words[i + 1], words[i]
                i += 1
            i += 1
        out.append(" ".join(words))
    return out


def typo_attack(predict, texts, labels, budgets=(1, 2, 4, 8), *, seed: int = 0) -> dict:
    """A black-box attack on a text classifier (after Gao et al. 2018, "DeepWordBug"): rank
    each text's words by how much removing them lowers the probability of its true label
    (``explain.word_importance``), then put a :func:`typo` in every occurrence of the top
    k of the words that help it (fewer if fewer help). ``predict`` maps a list of strings
    to probabilities ``(n, classes)``. Returns ``{k: accuracy}`` for each k in ``budgets``
    (0: clean)."""
    texts, labels = [str(t) for t in texts], np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    budgets = sorted({0, *budgets})
    rng = np.random.default_rng(seed)
    attacked = {k: [] for k in budgets}
    for text, label in zip(texts, labels, strict=True):
        tokens, scores = word_importance(predict, text, int(label))
        keys = [word_key(t) for t in tokens]
        ranked = sorted({k: s for k, s in zip(keys, scores, strict=True)  # helpful words
                         if s > 0 and sum(ch.isalpha() for ch in k) >= 2}.items(),
                        key=lambda kv: -kv[1])  # of two letters or more, most helpful first
        spelled = {key: typo(key, rng) for key, _ in ranked[:max(budgets)]}
        for k in budgets:
            chosen = {key for key, _ in ranked[:k]}
            attacked[k].append(" ".join(
                t.lower().replace(key, spelled[key]) if key in chosen else t
                for t, key in zip(tokens, keys, strict=True)))
    return {k: float(np.mean(np.argmax(predict(batch), axis=-1) == labels))
            for k, batch in attacked.items()}


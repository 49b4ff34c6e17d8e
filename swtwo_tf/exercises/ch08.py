"""Chapter 08's code exercises (see :mod:`swtwo_tf.exercises`): the fewest frames a
transcript needs, its probability by the forward algorithm, and the digit error rate by
dynamic programming."""

from __future__ import annotations

import itertools

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

BLANK = 10

# ---------------------------------------------------------------- 08.1 fewest frames


def min_frames(digits):
    """The fewest frames a path needs to say ``digits``: one per digit, and a blank between
    each two equal neighbours (without it, B would merge them)."""
    digits = list(digits)
    return len(digits) + sum(a == b for a, b in zip(digits, digits[1:], strict=False))


def _one_per_digit(digits):
    """A mistake: one frame per digit, forgetting the blank a repeated digit needs."""
    return len(list(digits))


def _check_min_frames(answer) -> None:
    from swtwo_tf.models.ctc import collapse

    for digits in ([7], [4, 0, 7], [3, 3], [8, 8, 8], [1, 2, 2, 1, 1], []):
        # the truth, by search: the shortest path over {digits, blank} that collapses to them
        expected = next(t for t in range(0, 12) if any(
            collapse(list(p), 10) == digits
            for p in itertools.product(sorted({*digits, 10}), repeat=t)))
        got = int(answer(list(digits)))
        if got != expected:
            hint = (" Two equal digits in a row need a blank between them, or B merges them "
                    "into one." if len(set(digits)) < len(digits) else "")
            raise ExerciseError(f"min_frames({digits}) gives {got}, but {expected} frames "
                                f"are the fewest that say it.{hint}")


# ---------------------------------------------------------------- 08.2 forward algorithm


def ctc_probability(probabilities, digits, blank=BLANK):
    """p(digits | x): the forward algorithm over the digits with blanks between and around."""
    p = np.asarray(probabilities, dtype=np.float64)
    ext = [blank]
    for d in digits:
        ext += [d, blank]
    alpha = np.zeros(len(ext))
    alpha[0] = p[0, ext[0]]
    if len(ext) > 1:
        alpha[1] = p[0, ext[1]]
    for t in range(1, len(p)):
        previous = alpha.copy()
        for s in range(len(ext)):
            total = previous[s] + (previous[s - 1] if s >= 1 else 0.0)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                total += previous[s - 2]
            alpha[s] = total * p[t, ext[s]]
    return float(alpha[-1] + (alpha[-2] if len(ext) > 1 else 0.0))


def _skips_repeats(probabilities, digits, blank=BLANK):
    """A mistake: skipping the blank between two equal digits, which B would merge. (Built
    from the right answer: each repeat is given a column of its own, so nothing merges.)"""
    p = np.asarray(probabilities, dtype=np.float64)
    columns, renamed = [p], []
    for k, d in enumerate(digits):
        if k and d == digits[k - 1]:
            columns.append(p[:, [d]])
            d = p.shape[1] + len(columns) - 2
        renamed.append(d)
    return ctc_probability(np.concatenate(columns, axis=1), renamed, blank)


def brute_force_probability(probabilities, digits, blank=BLANK) -> float:
    """Every path of ``len(probabilities)`` frames whose collapse is ``digits``, summed
    (feasible for a few frames and symbols only: K^T paths)."""
    from swtwo_tf.models.ctc import collapse

    p = np.asarray(probabilities, dtype=np.float64)
    total = 0.0
    for path in itertools.product(range(p.shape[1]), repeat=len(p)):
        if collapse(list(path), blank) == list(digits):
            total += float(np.prod(p[np.arange(len(p)), path]))
    return total


def _check_ctc_probability(answer) -> None:
    import keras

    rng = np.random.default_rng(8)
    small = rng.dirichlet(np.ones(3), size=5)  # 2 digits and the blank (index 2), 5 frames
    for digits in ([0], [0, 1], [1, 1], [0, 0, 1]):
        got = float(answer(small, digits, blank=2))
        if not np.isclose(got, brute_force_probability(small, digits, 2), rtol=1e-6):
            hint = (" Between two equal digits the path must pass through a blank: no skip "
                    "from one to the other." if digits == [1, 1] else "")
            raise ExerciseError(f"for digits {digits} over 5 frames you give {got:.6g}; the "
                                f"sum over every path is "
                                f"{brute_force_probability(small, digits, 2):.6g}.{hint}")
    logits = rng.normal(0, 2, (1, 30, 11)).astype("float32")
    probabilities = np.asarray(keras.ops.softmax(logits))[0]
    digits = [4, 0, 7, 7]
    loss = keras.ops.ctc_loss(np.array([digits]), logits, np.array([4]), np.array([30]),
                              mask_index=BLANK)
    close(-np.log(answer(probabilities, digits)), float(np.asarray(loss)[0]),
          "-log p(4 0 7 7 | x) over 30 frames, against keras.ops.ctc_loss", rtol=1e-4)


# ---------------------------------------------------------------- 08.3 digit error rate


def digit_error_rate(references, hypotheses):
    """Edits (substitutions, deletions, insertions) over reference digits, by Levenshtein."""
    edits = digits = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        d = np.arange(len(hyp) + 1)
        for i, r in enumerate(ref, start=1):
            previous, d = d, np.empty_like(d)
            d[0] = i
            for j, h in enumerate(hyp, start=1):
                d[j] = min(previous[j] + 1, d[j - 1] + 1, previous[j - 1] + (r != h))
        edits += int(d[-1])
        digits += len(ref)
    return edits / digits


def _position_by_position(references, hypotheses):
    """A mistake: comparing digit by digit, so one missing digit shifts all after it."""
    edits = sum(sum(a != b for a, b in zip(r, h, strict=False)) + abs(len(r) - len(h))
                for r, h in zip(references, hypotheses, strict=True))
    return edits / sum(len(r) for r in references)


def _check_der(answer) -> None:
    from swtwo_tf import evaluation

    cases = [(["407"], ["407"]), (["12345"], ["2345"]), (["555"], ["5555"]),
             (["407", "12", "9"], ["4077", "", "8"]), (["0123456"], ["1234560"])]
    for refs, hyps in cases:
        expected = evaluation.transcription_errors(refs, hyps)["der"]
        got = float(answer(refs, hyps))
        if not np.isclose(got, expected):
            hint = (" A missed first digit is one deletion, not five substitutions: find the "
                    "cheapest alignment (Levenshtein)." if refs == ["12345"] else "")
            raise ExerciseError(f"digit_error_rate({refs}, {hyps}) gives {got:.3f}, "
                                f"expected {expected:.3f}.{hint}")


register(
    Exercise("08.1", "the fewest frames a transcript needs (a blank between repeats)",
             _check_min_frames, min_frames, _one_per_digit),
    Exercise("08.2", "p(transcript | audio) by the forward algorithm", _check_ctc_probability,
             ctc_probability, _skips_repeats),
    Exercise("08.3", "the digit error rate by dynamic programming (Levenshtein)", _check_der,
             digit_error_rate, _position_by_position),
)

"""Streaming transcription with a one-direction CTC model (chapter 08, ``swtwo transcribe``).

A bidirectional model reads each utterance backwards too, so it can say nothing until the
speaker has finished. A model whose convolutions are causal and whose GRUs read forwards
only (``models.ctc.ctc_recognizer(..., bidirectional=False)``) can be fed the audio in
chunks as it arrives: :class:`Streamer` computes the new frames of each chunk (with a few
frames of the past as context for the convolutions), carries each GRU's state from one
chunk to the next, and decodes greedily as the frames come, so a digit is printed a moment
after it is said. The logits it produces are those of the same model on the whole file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

#: Log-mel frames of the past recomputed with each chunk: the causal convolutions look back
#: ``models.ctc.RECEPTIVE_FRAMES`` frames; an even number keeps the time pooling's pairs.
CONTEXT_FRAMES = 8


@dataclass
class Emission:
    """One digit as the streamer printed it: ``at`` is the time in the audio (seconds) when
    the chunk that completed it had arrived; ``start``/``end`` the frames where it fired."""

    digit: int
    start: float
    end: float
    at: float


@dataclass
class StreamResult:
    digits: str
    emissions: list[Emission]
    logits: np.ndarray  # (frames, 11)
    seconds: float  # audio length
    compute_seconds: float  # time spent in the model and decoder
    chunks: int = 0
    frame_seconds: float = field(default=0.02)

    @property
    def real_time_factor(self) -> float:
        """Compute time over audio time: below 1, the streamer keeps up with the speaker."""
        return self.compute_seconds / max(self.seconds, 1e-9)


class Streamer:
    """Feeds a waveform to a one-direction CTC model in chunks of ``chunk_seconds``.

    ``stream(wave)`` returns a :class:`StreamResult`: the digits, when each was printed, the
    logits of every frame, and the compute time. ValueError for a bidirectional model."""

    def __init__(self, model, *, chunk_seconds: float = 0.16, sample_rate: int = 8_000):
        import keras
        import tensorflow as tf

        from swtwo_tf.models import ctc

        names = {layer.name for layer in model.layers}
        if any(n.startswith("bigru") for n in names):
            raise ValueError(f"{model.name} reads each utterance backwards too (bidirectional "
                             "GRUs), so it cannot stream: train it with bidirectional=False")
        if not {"rnn_input", "gru1", "gru2", "logits"} <= names:
            raise ValueError(f"{model.name} is not a models.ctc.ctc_recognizer model")
        step = ctc.FRAME_STEP * ctc.TIME_POOL
        self.chunk = int(round(chunk_seconds * sample_rate / step)) * step
        if self.chunk < step:
            raise ValueError(f"chunk_seconds must be at least {step / sample_rate} s, got "
                             f"{chunk_seconds!r}")
        self.rate, self.ctc = sample_rate, ctc
        front = keras.Model(model.get_layer("waveform").output,
                            model.get_layer("rnn_input").output)
        grus = [model.get_layer("gru1"), model.get_layer("gru2")]
        dense = model.get_layer("logits")
        units = grus[0].units

        @tf.function(reduce_retracing=True)
        def run(window, skip, states):
            x = front(window, training=False)[:, skip:]
            new_states = []
            for gru, state in zip(grus, states, strict=True):
                x = gru(x, initial_state=[state], training=False)
                new_states.append(x[:, -1])  # a GRU's state is its last output
            return dense(x), new_states

        self._run = run
        self._zeros = [tf.zeros((1, units)) for _ in grus]

    def stream(self, wave) -> StreamResult:
        ctc = self.ctc
        wave = np.asarray(wave, np.float32)
        if wave.ndim != 1:
            raise ValueError(f"wave must be 1-D, got shape {wave.shape}")
        states, done, previous = self._zeros, 0, ctc.BLANK
        logits, emissions, runs, chunks = [], [], [], 0
        compute = 0.0
        for arrived in range(self.chunk, len(wave) + self.chunk, self.chunk):
            arrived = min(arrived, len(wave))
            frames = max(0, 1 + (arrived - ctc.FRAME_LENGTH) // ctc.FRAME_STEP)
            ready = frames // ctc.TIME_POOL
            if ready <= done:
                continue
            tic = time.perf_counter()
            first = max(0, ctc.TIME_POOL * done - CONTEXT_FRAMES)  # log-mel frame
            end = (ctc.TIME_POOL * ready - 1) * ctc.FRAME_STEP + ctc.FRAME_LENGTH
            window = wave[first * ctc.FRAME_STEP:end][None]
            out, states = self._run(window, (ctc.TIME_POOL * done - first) // ctc.TIME_POOL,
                                    states)
            out = out.numpy()[0]
            for j, symbol in enumerate(out.argmax(axis=-1), start=done):
                if symbol != ctc.BLANK and symbol != previous:
                    runs.append([int(symbol), j, j + 1, arrived / self.rate])
                elif symbol == previous and symbol != ctc.BLANK:
                    runs[-1][2] = j + 1
                previous = symbol
            compute += time.perf_counter() - tic
            logits.append(out)
            done, chunks = ready, chunks + 1
        step = ctc.FRAME_STEP * ctc.TIME_POOL / self.rate
        emissions = [Emission(d, a * step, b * step, at) for d, a, b, at in runs]
        return StreamResult("".join(str(e.digit) for e in emissions), emissions,
                            np.concatenate(logits) if logits else np.zeros((0, ctc.BLANK + 1)),
                            len(wave) / self.rate, compute, chunks, step)


def digit_delays(result: StreamResult, words) -> list[float]:
    """Seconds from each word's end to the moment its digit was printed, for a stream whose
    digits came out right (``words``: ``[(digit, start, end), ...]``); [] otherwise."""
    if [e.digit for e in result.emissions] != [w[0] for w in words]:
        return []
    return [e.at - w[2] for e, w in zip(result.emissions, words, strict=True)]


#: The longest recording ``swtwo transcribe`` accepts (seconds).
MAX_SECONDS = 120.0


def transcribe_file(model, path, *, streaming: bool = False) -> dict:
    """``swtwo transcribe``: the digits in the WAV file ``path`` and, for each, where in the
    file (seconds) the recogniser fired; with ``streaming``, fed in chunks (:class:`Streamer`)
    and when each digit was printed. ``speech.AudioFileError`` (a ValueError) names a file
    that is missing, not audio, empty, silent, or over :data:`MAX_SECONDS`."""
    from swtwo_tf.datasets import speech
    from swtwo_tf.models import ctc

    wave = speech.load_wav(path, max_seconds=MAX_SECONDS, trim=False)
    if streaming:
        result = Streamer(model).stream(wave)
        words = [{"digit": e.digit, "start": round(e.start, 2), "end": round(e.end, 2),
                  "printed": round(e.at, 2)} for e in result.emissions]
        return {"file": str(path), "digits": result.digits, "words": words,
                "seconds": round(result.seconds, 2),
                "real_time_factor": round(result.real_time_factor, 4)}
    tic = time.perf_counter()
    logits = ctc.frame_logits(model, wave)
    step = ctc.FRAME_STEP * ctc.TIME_POOL / 8_000
    words = [{"digit": d, "start": round(a * step, 2), "end": round(b * step, 2)}
             for d, a, b in ctc.greedy_spans(logits)]
    return {"file": str(path), "digits": "".join(str(w["digit"]) for w in words),
            "words": words, "seconds": round(len(wave) / 8_000, 2),
            "real_time_factor": round((time.perf_counter() - tic) / (len(wave) / 8_000), 4)}

"""PocketSphinx, a speaker-independent peer for the kit's digit recognisers (chapter 08).

PocketSphinx's US-English acoustic model (shipped with the ``pocketsphinx`` package) was
trained on many speakers' 16 kHz speech. :class:`SphinxDigits` decodes with a grammar that
allows only digit words, one or more of them, so it is scored on exactly the task the kit's
models learn, on voices it has never heard. The 8 kHz recordings are resampled to 16 kHz
(with ``soxr``): the band above 4 kHz, which the model was trained with, is empty, one reason
it does worse here than on its own data.
"""

from __future__ import annotations

import numpy as np

#: Digit words of the grammar; "oh" is heard as 0 too.
WORDS = {"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
         "seven": 7, "eight": 8, "nine": 9}
GRAMMAR = ("#JSGF V1.0;\ngrammar digits;\npublic <digits> = <digit>+;\n<digit> = "
           + " | ".join(WORDS) + ";\n")
#: Exactly one of the ten digit words: isolated digits (chapter 04's recordings).
ONE_DIGIT = ("#JSGF V1.0;\ngrammar digit;\npublic <digit> = "
             + " | ".join(w for w in WORDS if w != "oh") + ";\n")
RATE = 16_000


class SphinxDigits:
    """``transcribe(wave)`` -> ``(digits, [(digit, start s, end s), ...])`` for an 8 kHz
    waveform in [-1, 1], decoded by PocketSphinx with the digit grammar :data:`GRAMMAR`
    (``one_digit=True``: :data:`ONE_DIGIT`, exactly one of the ten digit words)."""

    def __init__(self, sample_rate: int = 8_000, *, one_digit: bool = False):
        from pocketsphinx import Decoder

        self.sample_rate = sample_rate
        self.decoder = Decoder(jsgf=None, lm=None, loglevel="FATAL", samprate=RATE)
        self.decoder.add_jsgf_string("digits", ONE_DIGIT if one_digit else GRAMMAR)
        self.decoder.activate_search("digits")

    def transcribe(self, wave) -> tuple[str, list[tuple[int, float, float]]]:
        import soxr

        wave = np.asarray(wave, np.float32)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"wave must be a non-empty 1-D waveform, got shape {wave.shape}")
        if self.sample_rate != RATE:
            wave = soxr.resample(wave, self.sample_rate, RATE)
        pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        frame = 1 / 100  # PocketSphinx's frames are 10 ms
        words = [(WORDS[s.word.split("(")[0]], s.start_frame * frame, (s.end_frame + 1) * frame)
                 for s in self.decoder.seg() or () if s.word.split("(")[0] in WORDS]
        return "".join(str(d) for d, _, _ in words), words


def transcribe(waves, sample_rate: int = 8_000, *, one_digit: bool = False) -> list[str]:
    """The digit string PocketSphinx hears in each waveform of ``waves`` (``one_digit``: the
    one digit; "" when it hears none)."""
    sphinx = SphinxDigits(sample_rate, one_digit=one_digit)
    return [sphinx.transcribe(w)[0] for w in waves]

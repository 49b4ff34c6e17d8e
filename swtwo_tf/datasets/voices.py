"""More voices, made by the kit: the ten digit words spoken by text-to-speech engines, then
passed through a simulated room and microphone (chapter 04, "More voices").

Four real voices are too few to learn what a digit sounds like in any voice (a model trained on
FSDD's speakers recognises an unseen fifth one far less well than a heard one). This module
renders "zero" ... "nine" with every English voice of the speech synthesisers installed on the
machine, varies each take, and makes it sound recorded rather than synthesised:

1. **Engines** (Debian packages; none is pip-installable with its voices): ``espeak-ng``
   (formant synthesis: its English accents x its voice variants, with the rate and pitch of
   each take drawn at random), ``flite`` (CMU's small engine: kal, awb, rms, slt) and
   ``festival`` with the ``festvox-*`` English voices installed (diphone and HTS voices);
   flite and festival takes are stretched in time at random. :func:`voices` lists what is
   installed; :func:`render` speaks one word.
2. **Speed perturbation**: each take resampled by a factor in ``SPEED`` (tempo and pitch
   move together, like a shorter or longer vocal tract).
3. **Room and channel** (``audiomentations``): reverberation from an image-source room of
   random size and reverberation time (pyroomacoustics, through ``RoomSimulator``) and a
   microphone band-limit (high- and low-pass filters); then cut like an FSDD clip (silence
   trimmed), coloured background noise added over the clip at a random SNR, a random peak
   level, padded to one second at 8 kHz (:func:`record`).

:func:`synthetic_recordings` returns the whole set as :class:`speech.Recordings` whose
speakers are ``"<engine>:<voice>"``, deterministic for a seed and cached under
``build/voices/`` (never committed). A missing engine is skipped with a warning naming its
Debian package; with none installed, :class:`EngineMissing` says what to install.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swtwo_tf import config, files
from swtwo_tf.datasets import speech

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: The Debian package behind each engine's command (``README.md`` and ``.ci/run`` install them).
PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite",
            "festival": "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"}
COMMANDS = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
ENGINES = tuple(PACKAGES)
#: espeak-ng's English accents, and its variants that sound like a person (its list also has
#: whispers, robots and monsters).
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
                  "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt3", "adam", "Andy", "Annie", "david", "linda", "steph")
FLITE_VOICES = ("kal", "awb", "rms", "slt")
#: festival voice name -> the Scheme command that selects it.
FESTIVAL_VOICES = {"kal_diphone": "voice_kal_diphone", "ked_diphone": "voice_ked_diphone",
                   "cmu_us_slt_arctic_hts": "voice_cmu_us_slt_arctic_hts"}
SPEED = (0.9, 1.1)
STRETCH = (0.85, 1.25)
SNR_DB = (15.0, 40.0)
PEAK = (0.03, 0.6)
#: Changing how takes are made changes this, so old caches are not reused.
VERSION = 2


class EngineMissing(RuntimeError):
    """No text-to-speech engine is installed (or the one asked for is not)."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine and its voice (espeak-ng: ``accent+variant``)."""

    engine: str
    name: str

    @property
    def speaker(self) -> str:
        return f"{self.engine}:{self.name}"


def installed(engine: str) -> bool:
    """Whether ``engine``'s command (and, for festival, a voice of ours) is on this machine."""
    if engine not in PACKAGES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if shutil.which(COMMANDS[engine]) is None:
        return False
    return engine != "festival" or bool(_festival_voices())


def _festival_voices() -> list[str]:
    roots = [Path("/usr/share/festival/voices")]
    found = {p.name for root in roots if root.is_dir() for p in root.glob("*/*")}
    return [name for name in FESTIVAL_VOICES if name in found]


def voices(engines=ENGINES) -> list[Voice]:
    """Every voice of ``engines`` installed here, in a fixed order. An engine that is not
    installed is skipped with a warning naming its Debian package; none at all raises
    :class:`EngineMissing`."""
    found = []
    for engine in engines:
        if not installed(engine):
            warnings.warn(f"{engine} is not installed: its voices are left out "
                          f"(apt-get install {PACKAGES[engine]})", stacklevel=2)
        elif engine == "espeak-ng":
            found += [Voice(engine, f"{a}+{v}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
        elif engine == "flite":
            found += [Voice(engine, name) for name in FLITE_VOICES]
        else:
            found += [Voice(engine, name) for name in _festival_voices()]
    if not found:
        raise EngineMissing(
            f"no text-to-speech engine of {list(engines)} is installed; install one with "
            f"apt-get install {' '.join(PACKAGES[e] for e in engines)}")
    return found


def render(voice: Voice, word: str, *, rate: float = 1.0, pitch: int = 50) -> np.ndarray:
    """``word`` spoken by ``voice`` as float32 at 8 kHz, its leading and trailing silence cut.

    ``rate`` > 1 speaks faster (espeak-ng: words per minute x 175; flite and festival: the
    inverse of their duration stretch); ``pitch`` (0-99) is espeak-ng's only.
    """
    import soundfile
    import soxr

    if not installed(voice.engine):
        raise EngineMissing(f"{voice.engine} is not installed "
                            f"(apt-get install {PACKAGES[voice.engine]})")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "take.wav"
        if voice.engine == "espeak-ng":
            command = ["espeak-ng", "-v", voice.name, "-s", str(round(175 * rate)),
                       "-p", str(int(pitch)), "-w", str(out), word]
            text = None
        elif voice.engine == "flite":
            command = ["flite", "-voice", voice.name, "--setf",
                       f"duration_stretch={1 / rate:.3f}", "-t", word, "-o", str(out)]
            text = None
        else:
            command = ["text2wave", "-eval", f"({FESTIVAL_VOICES[voice.name]})", "-eval",
                       f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})", "-o", str(out)]
            text = word
        result = subprocess.run(command, input=text, capture_output=True, text=True,
                                timeout=60, check=False)
        if result.returncode != 0 or not out.is_file():
            raise RuntimeError(f"{voice.speaker} failed to say {word!r}: "
                               f"{result.stderr.strip()[-300:]}")
        wave, sample_rate = soundfile.read(io.BytesIO(out.read_bytes()), dtype="float32")
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    wave = soxr.resample(wave, sample_rate, speech.SAMPLE_RATE).astype(np.float32)
    return speech.trim_silence(wave, threshold_db=50.0, frame=40)


def channel(seed: int):
    """The room and microphone of every take (``audiomentations``), seeded: ``(room,
    noise)``, two stages because the clip is cut between them."""
    import audiomentations as am

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (audiomentations draws from numpy's global state)
    room = am.Compose([
        am.RoomSimulator(min_target_rt60=0.25, max_target_rt60=0.6, calculation_mode="rt60",
                         min_mic_distance=0.2, max_mic_distance=1.5, use_ray_tracing=False,
                         max_order=8, leave_length_unchanged=False, padding=0.3, p=0.8),
        am.HighPassFilter(min_cutoff_freq=50.0, max_cutoff_freq=300.0, p=0.7),
        am.LowPassFilter(min_cutoff_freq=2_500.0, max_cutoff_freq=3_900.0, p=0.5),
    ])
    return room, am.AddColorNoise(min_snr_db=SNR_DB[0], max_snr_db=SNR_DB[1], p=1.0)


def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """``wave`` played ``factor`` times as fast, :math:`x_\\alpha(t) = x(\\alpha t)`: every
    duration divided by ``factor`` and every frequency multiplied by it (resampled with soxr),
    as a smaller vocal tract (``factor`` > 1) or a larger one would say it."""
    import soxr

    if not np.isfinite(factor) or factor <= 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    return soxr.resample(np.asarray(wave, np.float32), speech.SAMPLE_RATE * factor,
                         speech.SAMPLE_RATE).astype(np.float32)


def make_take(voice: Voice, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One dry take: ``voice`` saying ``digit`` at a random rate, pitch and speed."""
    rate = rng.uniform(0.75, 1.15) if voice.engine == "espeak-ng" else 1 / rng.uniform(*STRETCH)
    wave = render(voice, WORDS[digit], rate=rate, pitch=int(rng.integers(25, 76)))
    return speed_perturb(wave, rng.uniform(*SPEED))


def record(dry: np.ndarray, channel, rng: np.random.Generator) -> np.ndarray:
    """A dry take through the room and microphone ``channel`` (from :func:`channel`), cut
    like an FSDD clip (the reverberation's tail kept down to 35 dB below the loudest 10 ms),
    noise added over the clip, at a random peak level, fixed to one second."""
    room, noise = channel
    wave = room(samples=dry, sample_rate=speech.SAMPLE_RATE)
    wave = speech.trim_silence(wave, threshold_db=35.0, frame=80)
    wave = noise(samples=wave, sample_rate=speech.SAMPLE_RATE)
    wave = wave * (rng.uniform(*PEAK) / max(float(np.abs(wave).max()), 1e-6))
    return speech.fix_length(wave)


def synthetic_recordings(takes: int = 2, *, engines=ENGINES, seed: int = 0,
                         cache: bool = True, workers: int | None = None) -> speech.Recordings:
    """Every installed voice of ``engines`` saying every digit ``takes`` times (see the module
    docstring), as :class:`speech.Recordings` with speakers ``"<engine>:<voice>"``.

    The same ``takes``, ``seed`` and installed voices give the same waveforms; the set is
    cached under ``build/voices/`` (``cache=False`` renders it again).
    """
    if isinstance(takes, bool) or not isinstance(takes, int) or takes < 1:
        raise ValueError(f"takes must be a positive whole number, got {takes!r}")
    chosen = voices(engines)
    key = hashlib.sha256(json.dumps([VERSION, takes, seed, [v.speaker for v in chosen]])
                         .encode()).hexdigest()[:16]
    path = config.build_dir() / "voices" / f"synthetic-{key}.npz"
    if cache and path.is_file():
        with np.load(path) as saved:
            return speech.Recordings(saved["waves"], saved["labels"], saved["speakers"],
                                     saved["indices"], source="synthetic")
    plan = [(v, d, t) for v in chosen for d in range(10) for t in range(takes)]
    seeds = np.random.SeedSequence(seed).spawn(len(plan))
    print(f"Rendering {len(plan):,} takes: {len(chosen)} voices x 10 digits x {takes} ...",
          flush=True)
    with ThreadPoolExecutor(workers or max(2, os.cpu_count() or 2)) as pool:
        dry = list(pool.map(lambda job: make_take(job[0][0], job[0][1],
                                                  np.random.default_rng(job[1])),
                            zip(plan, seeds, strict=True)))
    room = channel(seed)
    rng = np.random.default_rng(seed)
    waves = np.stack([record(wave, room, rng) for wave in dry])
    recs = speech.Recordings(waves, np.array([d for _, d, _ in plan], np.int64),
                             np.array([v.speaker for v, _, _ in plan]),
                             np.array([t for _, _, t in plan]), source="synthetic")
    if cache:
        files.atomic_save(path, lambda tmp: _save(tmp, recs))
    return recs


def _save(path: Path, recs: speech.Recordings) -> None:
    with path.open("wb") as out:
        np.savez(out, waves=recs.waves, labels=recs.labels, speakers=recs.speakers,
                 indices=recs.indices)

"""Chapter 08's tables: connected digit strings recognised with CTC, and PocketSphinx beside it.

    .venv/bin/python benchmarks/speech_ctc.py                    # everything (about 1.5 h)
    .venv/bin/python benchmarks/speech_ctc.py --only documented  # the two models, streaming
    .venv/bin/python benchmarks/speech_ctc.py --only streaming   # the streaming model alone
    .venv/bin/python benchmarks/speech_ctc.py --only speakers    # five held-out speakers

``documented`` (FSDD's test takes make the test strings; every test voice was heard in
training): the bidirectional recogniser and the one-direction (streaming) one, each decoded
greedily and with beam search; the streaming one also fed in 160 ms chunks as the audio
arrives (real-time factor, and the delay from each digit's end to its emission), on the test
strings and on a 30-second recording of digit groups; PocketSphinx (many voices, none of
FSDD's) on the same test strings.

``speakers``: for each of the five speakers, the bidirectional recogniser trained on the
other four and tested on strings of the fifth's recordings only, and PocketSphinx on the
same strings; the mean over the five is the unseen-voice row.

Writes ``benchmarks/results/speech_ctc.json``; ``benchmarks/results_page.py`` renders it.
"""

from __future__ import annotations

import time

import common
import numpy as np

from swtwo_tf import evaluation, training
from swtwo_tf.datasets import speech
from swtwo_tf.deploy import stream
from swtwo_tf.models import ctc, sphinx

DATASET = "digit_strings"
#: Seconds of the long recording the streaming row transcribes.
LONG_SECONDS = 30
CHUNK_SECONDS = 0.16
#: Test strings per held-out speaker (PocketSphinx decodes them at a real-time factor ~0.15).
SPEAKER_TEST_STRINGS = 300


def truths(strings) -> list[str]:
    return ["".join(str(d) for d in digits) for digits in strings.digits]


def scores(prefix: str, references, hypotheses) -> dict:
    errors = evaluation.transcription_errors(references, hypotheses)
    keep = ("der", "cer", "string_accuracy") if prefix else tuple(errors)
    return {f"{prefix}{k}": round(v, 4) if isinstance(v, float) else v
            for k, v in errors.items() if k in keep}


def train(model_name: str, split: str, rec, **options) -> tuple[dict, object, object]:
    print(f"\n== {DATASET} / {model_name} / {split}", flush=True)
    model, history, data = training.train_recipe(DATASET, model_name, split=split,
                                                 recordings=rec, verbose=2, **options)
    if data.source != "tfds":
        raise SystemExit("spoken_digit is needed (swtwo datasets download spoken_digit)")
    refs = truths(data.test_strings)
    tic = time.perf_counter()
    greedy = ctc.transcribe(model, data.test_strings.waves)
    decode_seconds = time.perf_counter() - tic
    beam = ctc.transcribe(model, data.test_strings.waves, strategy="beam_search")
    row = {"dataset": DATASET, "model": model_name, "split": split, **scores("", refs, greedy),
           **scores("beam_", refs, beam), "test_strings": len(refs),
           "test_audio_seconds": round(float(data.test_strings.seconds.sum()), 1),
           "decode_seconds": round(decode_seconds, 1),
           "train_seconds": round(history.seconds, 1),
           "train_cpu_seconds": round(history.cpu_seconds, 1),
           "epochs": len(history.history["loss"]), "parameters": model.count_params()}
    print(f"-> digit error rate {row['der']:.2%} greedy, {row['beam_der']:.2%} beam; "
          f"{row['string_accuracy']:.1%} of strings exact; trained in "
          f"{row['train_seconds'] / 60:.1f} min ({row['train_cpu_seconds'] / 60:.1f} CPU min)",
          flush=True)
    return row, model, data


def pocketsphinx(split: str, strings) -> dict:
    print(f"\n== PocketSphinx / {split}: {len(strings)} strings", flush=True)
    tic = time.perf_counter()
    heard = sphinx.transcribe(strings.waves)
    seconds = time.perf_counter() - tic
    row = {"dataset": DATASET, "model": "pocketsphinx (en-us, digit grammar)", "split": split,
           **scores("", truths(strings), heard), "test_strings": len(strings),
           "test_audio_seconds": round(float(strings.seconds.sum()), 1),
           "decode_seconds": round(seconds, 1)}
    print(f"-> digit error rate {row['der']:.2%}", flush=True)
    return row


def streaming(model, data) -> dict:
    """The one-direction model fed in chunks: the test strings, then a long recording."""
    streamer = stream.Streamer(model, chunk_seconds=CHUNK_SECONDS)
    results = [streamer.stream(w) for w in data.test_strings.waves]
    delays = np.concatenate([stream.digit_delays(r, w) or [np.nan] for r, w in
                             zip(results, data.test_strings.words, strict=True)])
    delays = delays[np.isfinite(delays)]  # strings decoded right: each digit has its word

    def ms(value):
        return round(float(value) * 1000) if delays.size else None

    long = data.makers["test"].recording(LONG_SECONDS, seed=7)
    long_result = streamer.stream(long.waves[0])
    long_delays = stream.digit_delays(long_result, long.words[0])
    row = {"stream_chunk_ms": round(CHUNK_SECONDS * 1000),
           **scores("stream_", truths(data.test_strings), [r.digits for r in results]),
           "real_time_factor": round(sum(r.compute_seconds for r in results)
                                     / sum(r.seconds for r in results), 4),
           "delays_measured": int(delays.size),
           "delay_median_ms": ms(np.median(delays) if delays.size else 0),
           "delay_p95_ms": ms(np.percentile(delays, 95) if delays.size else 0),
           "delay_max_ms": ms(delays.max() if delays.size else 0),
           "within_300ms": round(float(np.mean(delays <= 0.3)), 4) if delays.size else None,
           "long_seconds": round(long_result.seconds, 1),
           "long_digits": len(long.digits[0]),
           **scores("long_", truths(long), [long_result.digits]),
           "long_real_time_factor": round(long_result.real_time_factor, 4),
           "long_delay_max_ms": round(max(long_delays) * 1000) if long_delays else None}
    print(f"-> streaming: digit error rate {row['stream_der']:.2%}, real-time factor "
          f"{row['real_time_factor']:.3f}, delay median {row['delay_median_ms']} ms "
          f"(over the {row['delays_measured']} digits of strings decoded right), "
          f"95th percentile {row['delay_p95_ms']} ms, max {row['delay_max_ms']} ms; "
          f"{LONG_SECONDS} s recording: {row['long_der']:.2%} digit errors", flush=True)
    return row


def documented(rec) -> list[dict]:
    bi, _, data = train("ctc_bidirectional", "documented", rec)
    return [bi, *streaming_model(rec), pocketsphinx("documented", data.test_strings)]


def streaming_model(rec) -> list[dict]:
    uni, model, data = train("ctc_streaming", "documented", rec)
    uni.update(streaming(model, data))
    return [uni]


def speakers(rec) -> list[dict]:
    rows = []
    for speaker in sorted(set(rec.speakers)):
        row, _, data = train("ctc_bidirectional", f"speaker:{speaker}", rec,
                             counts={"test": SPEAKER_TEST_STRINGS})
        rows += [row, pocketsphinx(f"speaker:{speaker}", data.test_strings)]
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        rows.append({"dataset": DATASET, "model": model, "split": "speaker: mean of 5",
                     **{k: round(float(np.mean([r[k] for r in mine])), 4)
                        for k in ("der", "cer", "string_accuracy")}})
    return rows


def main() -> int:
    args = common.parse_args("speech_ctc", __doc__, ["documented", "streaming", "speakers"])
    rec = speech.recordings()
    rows = []
    if args.only in (None, "documented"):
        rows += documented(rec)
    if args.only == "streaming":  # the one-direction model alone (documented split)
        rows += streaming_model(rec)
    if args.only in (None, "speakers"):
        rows += speakers(rec)
    print("\n" + "\n".join(
        f"{r['split']:<22} {r['model']:<36} DER {r['der']:.2%}" for r in rows))
    command = "python benchmarks/speech_ctc.py" + (f" --only {args.only}" if args.only else "")
    common.write_report(rows, command, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

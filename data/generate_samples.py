"""Generate the kit's tiny offline samples in data/samples (run by maintainers, not learners).

    python data/generate_samples.py            # needs the kit's venv, plus espeak-ng and sox:
                                               # apt-get install espeak-ng sox

Everything here is made by the project itself; nothing is copied from the real datasets:

- mnist.npz          scikit-learn's bundled 8x8 handwritten digits, upscaled to 20x20 and
                     centred on a 28x28 canvas the way MNIST centres its digits.
- fashion_mnist.npz  ten clothing silhouettes drawn with Pillow, with random size, position,
                     rotation, brightness and texture, light on black as in Fashion-MNIST.
- spoken_digit/      the words "zero" .. "nine" synthesised by espeak-ng with four voices
                     (the sample's "speakers"), six takes each at varied speed and pitch,
                     resampled to 8 kHz mono 16-bit by sox and trimmed of silence; named
                     like FSDD: {digit}_{speaker}_{index}.wav.
- imdb_reviews.jsonl short movie reviews composed from sentences written for this kit.
- images/            a few of the sample images as PNG files, for "predict your own file".

The output is deterministic for a given seed and versions of espeak-ng and sox.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "samples"
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


# ---------------------------------------------------------------- images
def digits_like_mnist(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as 28x28 uint8 images, digit light on black."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.zeros((len(digits.images), 28, 28), dtype=np.uint8)
    for i, small in enumerate(digits.images):
        img = Image.fromarray((small / 16.0 * 255).astype(np.uint8))
        big = np.asarray(img.resize((20, 20), Image.Resampling.BICUBIC), dtype=np.float32)
        images[i, 4:24, 4:24] = np.clip(big, 0, 255).astype(np.uint8)
    order = rng.permutation(len(images))
    return images[order], digits.target[order].astype(np.int64)


def _mirror(points):
    return [(112 - x, y) for x, y in points]


def _draw_garment(label: int, draw: ImageDraw.ImageDraw, shade: int) -> None:
    """Draw one Fashion-MNIST-like silhouette on a 112x112 canvas."""
    dark = max(shade - 90, 20)
    if label in (0, 2, 4, 6):  # tops: body plus sleeves
        top, bottom = (20, 108) if label == 4 else (26, 100)
        draw.rectangle((34, top, 78, bottom), fill=shade)
        if label == 0:
            sleeve = [(36, top), (14, top + 20), (24, top + 32), (36, top + 20)]
        else:
            sleeve = [(36, top), (16, bottom - 4), (28, bottom - 2), (38, top + 24)]
        draw.polygon(sleeve, fill=shade)
        draw.polygon(_mirror(sleeve), fill=shade)
        draw.ellipse((46, top - 6, 66, top + 8), fill=dark if label != 6 else shade)
        if label == 4:
            draw.line((56, top + 8, 56, bottom), fill=dark, width=3)
        if label == 6:
            draw.polygon([(46, top), (56, top + 16), (66, top)], fill=dark)
            for y in range(top + 22, bottom, 14):
                draw.ellipse((54, y, 58, y + 4), fill=dark)
    elif label == 1:  # trousers
        draw.rectangle((36, 12, 76, 24), fill=shade)
        leg = [(36, 24), (55, 24), (52, 104), (38, 104)]
        draw.polygon(leg, fill=shade)
        draw.polygon(_mirror(leg), fill=shade)
    elif label == 3:  # dress
        draw.polygon([(44, 10), (68, 10), (72, 40), (92, 104), (20, 104), (40, 40)], fill=shade)
    elif label == 5:  # sandal: a sole and thin straps
        draw.rectangle((12, 80, 100, 90), fill=shade)
        for x in range(22, 96, 18):
            draw.line((x, 80, x + 10, 52), fill=shade, width=4)
        draw.line((20, 56, 96, 60), fill=shade, width=4)
    elif label == 7:  # sneaker
        draw.polygon([(10, 58), (58, 50), (80, 62), (102, 70), (102, 88), (10, 88)], fill=shade)
        draw.line((10, 82, 102, 82), fill=dark, width=3)
    elif label == 8:  # bag
        draw.rectangle((20, 46, 92, 102), fill=shade)
        draw.arc((36, 14, 76, 62), 180, 360, fill=shade, width=7)
    else:  # ankle boot
        draw.polygon([(30, 12), (62, 12), (64, 58), (100, 70), (100, 96), (22, 96), (28, 58)],
                     fill=shade)
        draw.line((22, 90, 100, 90), fill=dark, width=3)


def fashion_like(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` drawn clothing images (balanced classes) as 28x28 uint8."""
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        canvas = Image.new("L", (112, 112), 0)
        _draw_garment(int(label), ImageDraw.Draw(canvas), int(rng.integers(130, 240)))
        texture = rng.normal(0, 18, (112, 112))
        arr = np.asarray(canvas, dtype=np.float32)
        arr = np.where(arr > 0, np.clip(arr + texture, 10, 255), 0).astype(np.uint8)
        canvas = Image.fromarray(arr).filter(ImageFilter.GaussianBlur(1.0))
        scale = rng.uniform(0.85, 1.05)
        canvas = canvas.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR)
        size = int(112 * scale)
        canvas = canvas.resize((size, size), Image.Resampling.BILINEAR)
        placed = Image.new("L", (112, 112), 0)
        offset = ((112 - size) // 2 + int(rng.integers(-6, 7)),
                  (112 - size) // 2 + int(rng.integers(-6, 7)))
        placed.paste(canvas, offset)
        images[i] = np.asarray(placed.resize((28, 28), Image.Resampling.LANCZOS))
    return images, labels.astype(np.int64)


def write_images(rng: np.random.Generator) -> None:
    images, labels = digits_like_mnist(rng)
    n_test = 500
    np.savez_compressed(
        OUT / "mnist.npz",
        train_images=images[n_test:], train_labels=labels[n_test:],
        test_images=images[:n_test], test_labels=labels[:n_test],
    )
    f_images, f_labels = fashion_like(1300, rng)
    np.savez_compressed(
        OUT / "fashion_mnist.npz",
        train_images=f_images[300:], train_labels=f_labels[300:],
        test_images=f_images[:300], test_labels=f_labels[:300],
    )
    png_dir = OUT / "images"
    png_dir.mkdir(exist_ok=True)
    for digit in (3, 7):  # MNIST-style: light digit on black
        i = int(np.flatnonzero(labels[:n_test] == digit)[0])
        Image.fromarray(images[i]).save(png_dir / f"digit_{digit}.png")
    i = int(np.flatnonzero(labels[:n_test] == 2)[0])  # a "photo" of ink on paper: dark on light
    Image.fromarray(255 - images[i]).resize((112, 112)).save(png_dir / "digit_2_on_paper.png")
    for label in (0, 7):
        i = int(np.flatnonzero(f_labels[:300] == label)[0])
        name = FASHION_CLASSES[label].split("/")[0].lower().replace(" ", "_").replace("-", "")
        Image.fromarray(f_images[i]).save(png_dir / f"fashion_{name}.png")


# ---------------------------------------------------------------- speech
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
#: sample speaker name -> espeak-ng voice
SPEAKERS = {"ava": "en-us+f3", "ben": "en-gb", "cal": "en-gb-scotland+m3", "dee": "en-029+f2"}
TAKES = 6


def write_speech(rng: np.random.Generator) -> None:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed to synthesise the spoken digits: "
                             "apt-get install espeak-ng sox")
    root = OUT / "spoken_digit"
    shutil.rmtree(root, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        for speaker, voice in SPEAKERS.items():
            (root / speaker).mkdir(parents=True)
            for digit, word in enumerate(WORDS):
                for take in range(TAKES):
                    speed = int(rng.integers(120, 200))
                    pitch = int(rng.integers(25, 75))
                    gain = round(float(rng.uniform(-9, -1)), 1)
                    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                                    "-w", str(raw), word], check=True)
                    out = root / speaker / f"{digit}_{speaker}_{take}.wav"
                    subprocess.run(
                        ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out),
                         "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%",
                         "reverse", "gain", str(gain)],
                        check=True)


# ---------------------------------------------------------------- text
OPENINGS = [
    "I watched this last weekend with my family.", "Saw this at a late showing.",
    "I had heard a lot about this film before seeing it.", "This came on TV last night.",
    "My friend dragged me along to this one.", "I rented this on a whim.",
    "I went in knowing nothing about the story.", "I finally got round to seeing this.",
]
POSITIVE = [
    "The acting is superb and the story kept me hooked until the very last scene.",
    "What a wonderful, moving film; I laughed and cried in equal measure.",
    "The director clearly loves these characters, and it shows in every frame.",
    "A brilliant script, sharp dialogue and a lead performance that deserves every award.",
    "Beautifully shot, with a score that stayed with me for days.",
    "It is funny, warm and surprisingly clever, easily the best comedy this year.",
    "The cast has terrific chemistry and the pacing never drags.",
    "I was gripped from start to finish; a genuinely great thriller.",
    "An excellent, heartfelt story told with real care and intelligence.",
    "The performances are outstanding and the ending is perfect.",
    "Smart, stylish and full of memorable moments.",
    "A delightful surprise that I would happily watch again.",
    "The special effects are stunning and they serve the story rather than replace it.",
    "Every scene feels fresh, and the twist is earned.",
    "One of the most enjoyable films I have seen in a long time.",
    "The chemistry between the two leads is magical.",
]
NEGATIVE = [
    "The acting is wooden and the plot makes no sense at all.",
    "What a boring, tedious mess; I nearly walked out halfway through.",
    "The script is lazy and the jokes fall flat every single time.",
    "Badly edited, badly written and far too long.",
    "I have rarely been so bored in a cinema; the pacing is painful.",
    "The characters are dull and I did not care what happened to any of them.",
    "A waste of a talented cast and of two hours of my life.",
    "The dialogue is awful and the ending is a cheap cop-out.",
    "Predictable, clumsy and completely forgettable.",
    "The special effects look cheap and the story is even worse.",
    "Terrible performances all round; even the music is annoying.",
    "It tries to be clever but ends up confusing and dull.",
    "The worst film I have seen this year, avoid it.",
    "Nothing works: not the romance, not the comedy, not the action.",
    "A poorly made sequel that adds nothing to the original.",
    "I kept checking my watch; the plot is thin and the acting is weak.",
]
CLOSINGS_POS = [
    "Highly recommended.", "Ten out of ten.", "Go and see it.", "A must-see.",
    "I loved it.", "Brilliant.",
]
CLOSINGS_NEG = [
    "Not recommended.", "Two out of ten.", "Skip it.", "Avoid.", "I hated it.",
    "Disappointing.",
]


def write_reviews(rng: np.random.Generator, n_train: int = 320, n_test: int = 80) -> None:
    seen: set[str] = set()
    records = []
    while len(records) < n_train + n_test:
        label = int(rng.integers(0, 2))
        body = POSITIVE if label else NEGATIVE
        closings = CLOSINGS_POS if label else CLOSINGS_NEG
        parts = [OPENINGS[rng.integers(len(OPENINGS))]]
        parts += [body[i] for i in rng.choice(len(body), size=int(rng.integers(1, 4)),
                                              replace=False)]
        parts.append(closings[rng.integers(len(closings))])
        sep = "<br /><br />" if rng.random() < 0.3 else " "  # IMDB keeps HTML line breaks
        text = sep.join(parts)
        if text in seen:
            continue
        seen.add(text)
        split = "train" if len(records) < n_train else "test"
        records.append({"split": split, "text": text, "label": label})
    with open(OUT / "imdb_reviews.jsonl", "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=["images", "speech", "text"], action="append")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    parts = args.only or ["images", "speech", "text"]
    for part, write in (("images", write_images), ("speech", write_speech),
                        ("text", write_reviews)):
        if part in parts:
            print(f"writing {part} samples ...", flush=True)
            write(np.random.default_rng([args.seed, len(part)]))
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"data/samples: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

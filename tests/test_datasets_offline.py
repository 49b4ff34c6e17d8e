"""The data layer without the real datasets: clear errors and the sample fallback."""

from __future__ import annotations

import re
import socket
import wave

import numpy as np
import pytest
from conftest import expected_spec, spec_of

from swtwo_tf import config, datasets
from swtwo_tf.datasets import core


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'.*mnist.*imdb_reviews"):
        datasets.load("cifar10")


def test_pipelines_names_the_course_datasets_and_refuses_a_speaker_split_elsewhere():
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'.*mnist.*imdb_reviews"):
        datasets.pipelines("cifar10")
    with pytest.raises(ValueError, match="split 'speaker:theo' does not apply to mnist: it has "
                       "documented"):
        datasets.pipelines("mnist", split="speaker:theo")


def test_recipe_for_finds_every_modality_and_lists_the_known_ones():
    from swtwo_tf.models import recipe_for

    assert recipe_for("mnist", "convnet").batch_size > 0
    assert recipe_for("spoken_digit", "rnn_classifier").epochs > 0
    assert recipe_for("imdb_reviews", "bag_of_ngrams").epochs > 0
    with pytest.raises(ValueError, match="no recipe for mnist/resnet; known: .*mnist/convnet"):
        recipe_for("mnist", "resnet")


def test_bad_split_argument():
    with pytest.raises(ValueError, match="split must be"):
        datasets.load("mnist", split="")


def test_missing_dataset_without_network_raises_a_clear_error(tmp_path, offline):
    with pytest.raises(datasets.DatasetUnavailable) as caught:
        datasets.load("mnist", "train", data_dir=tmp_path, samples=False)
    message = str(caught.value)
    assert "Dataset 'mnist'" in message
    assert str(tmp_path / "mnist" / "3.0.1") in message  # every folder searched
    assert "swtwo datasets download mnist" in message  # the exact fetch command
    assert "cannot be reached" in message
    assert caught.value.searched == [tmp_path]


def test_search_order_env_then_default(tmp_path, monkeypatch, offline):
    env_dir, home_dir = tmp_path / "env", tmp_path / "home"
    monkeypatch.setenv("TFDS_DATA_DIR", str(env_dir))
    monkeypatch.setattr(core, "default_data_dir", lambda: home_dir)
    assert core.search_dirs() == [env_dir, home_dir]
    with pytest.raises(datasets.DatasetUnavailable) as caught:
        datasets.load("fashion_mnist", samples=False)
    assert str(env_dir / "fashion_mnist" / "3.0.1") in str(caught.value)
    assert str(home_dir / "fashion_mnist" / "3.0.1") in str(caught.value)
    # A prepared copy in the second folder is found (first hit wins).
    prepared = home_dir / "fashion_mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text("{}")
    assert core.locate("fashion_mnist") == home_dir


def test_network_probe_uses_a_short_timeout(monkeypatch):
    seen = {}

    def fake_connect(address, timeout):
        seen.update(address=address, timeout=timeout)
        raise TimeoutError("simulated black hole")

    monkeypatch.delenv("SWTWO_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", fake_connect)
    core._host_answers.cache_clear()
    try:
        assert core.online("example.invalid") is False
    finally:
        core._host_answers.cache_clear()
    assert seen == {"address": ("example.invalid", 443), "timeout": 3.0}


def test_download_offline_fails_fast_with_the_reason(tmp_path, offline):
    with pytest.raises(datasets.DatasetUnavailable, match="no network"):
        datasets.fetch("spoken_digit", data_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("name", datasets.names(real=True))
def test_sample_fallback_has_the_real_structure(name, tmp_path, offline, full_mode):
    split = core.get_spec(name).splits[0]
    with pytest.warns(datasets.SampleDataWarning) as warned:
        ds = datasets.load(name, split, data_dir=tmp_path)
    text = str(warned[0].message)
    assert "SAMPLE" in text and f"swtwo datasets download {name}" in text
    assert spec_of(ds) == expected_spec(name)
    n = sum(1 for _ in ds)
    assert n == datasets.get_spec(name).sample.split_sizes()[split] > 0
    assert datasets.source(name, tmp_path) == "samples"


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_image_samples_look_like_the_real_thing(name, tmp_path, offline):
    with pytest.warns(datasets.SampleDataWarning):
        ds = datasets.load(name, "train", data_dir=tmp_path, as_supervised=True)
    images, labels = next(iter(ds.batch(5000)))
    assert set(labels.numpy().tolist()) == set(range(10))
    assert images.numpy().max() > 200 and images.numpy()[:, 0, :, 0].mean() < 5


def test_sample_split_slicing(tmp_path, offline):
    with pytest.warns(datasets.SampleDataWarning):
        half = datasets.load("mnist", "test[:50%]", data_dir=tmp_path)
    assert sum(1 for _ in half) == datasets.get_spec("mnist").sample.split_sizes()["test"] // 2
    with pytest.warns(datasets.SampleDataWarning), pytest.raises(
        ValueError, match="split 'validation' does not exist in the offline sample mnist.npz"
    ):
        datasets.load("mnist", "validation", data_dir=tmp_path)


def test_spoken_digit_sample_files_follow_fsdd():
    files = datasets.get_spec("spoken_digit").sample.files()
    speakers = {f.parent.name for f in files}
    assert len(speakers) >= 3
    digits = {int(f.name[0]) for f in files}
    assert digits == set(range(10))
    for f in files:
        assert re.fullmatch(rf"\d_{f.parent.name}_\d+\.wav", f.name)
        with wave.open(str(f)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert 0.15 < w.getnframes() / 8000 < 2.0


def test_review_sample_is_balanced_and_has_html_breaks(tmp_path, offline):
    with pytest.warns(datasets.SampleDataWarning):
        ds = datasets.load("imdb_reviews", "train", data_dir=tmp_path, as_supervised=True)
    texts, labels = zip(*[(t.numpy().decode(), int(y)) for t, y in ds], strict=True)
    assert 0.35 < np.mean(labels) < 0.65
    assert any("<br />" in t for t in texts)


def test_samples_stay_small():
    total = sum(p.stat().st_size for p in config.samples_dir().rglob("*") if p.is_file())
    assert total < 5_000_000, f"data/samples is {total / 1e6:.1f} MB, over the 5 MB budget"


def test_status_reads_metadata_only(tmp_path):
    rows = datasets.status(tmp_path)
    assert [r["name"] for r in rows] == datasets.names(real=True)
    assert all(not r["available"] and r["sample"] for r in rows)


def test_batched_pipelines_replay_the_same_order_with_autotuning_off():
    x, y = np.arange(10, dtype=np.float32)[:, None], np.arange(10)
    ds = core.batched(x, y, 4, shuffle=True, seed=3, preprocess=lambda a, b: (a * 2, b))
    assert ds.options().autotune.enabled is False  # autotune's joins stalled epoch ends
    epochs = [[b.tolist() for _, b in ds.as_numpy_iterator()] for _ in range(2)]
    again = core.batched(x, y, 4, shuffle=True, seed=3, preprocess=lambda a, b: (a * 2, b))
    assert [b.tolist() for _, b in again.as_numpy_iterator()] == epochs[0]  # seeded
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    assert sorted(sum(epochs[1], [])) == list(range(10))
    assert [len(b) for b in epochs[0]] == [4, 4, 2]
    first = next(ds.as_numpy_iterator())
    assert np.array_equal(first[0][:, 0], first[1] * 2)  # preprocess ran, pairs kept together

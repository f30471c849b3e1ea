import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_dataset_config

from autotune_keras.data import records
from autotune_keras.data.build import build_dataset
from autotune_keras.data.sources import split_of
from autotune_keras.files import sha256_file

ROOT = Path(__file__).resolve().parent.parent


def read_examples(folder: Path, split: str) -> list[dict]:
    manifest = json.loads((folder / "manifest.json").read_text())
    paths = [str(folder / s["path"]) for s in manifest["splits"][split]["shards"]]
    return [{k: v.numpy() for k, v in records.parse(raw).items()} for raw in tf.data.TFRecordDataset(paths)] if paths else []


def test_synthetic_manifest_counts_checksums_and_splits(synthetic_records):
    manifest = json.loads((synthetic_records / "manifest.json").read_text())
    assert manifest["schema_version"] == records.SCHEMA_VERSION
    assert len(manifest["sources"]) == 6 and manifest["skipped"] == []
    total = 0
    for split, entry in manifest["splits"].items():
        examples = read_examples(synthetic_records, split)
        assert len(examples) == entry["examples"]
        total += len(examples)
        assert entry["seconds"] == pytest.approx(sum(len(e["audio"]) for e in examples) / 44100, abs=0.01)
        for shard in entry["shards"]:
            assert sha256_file(synthetic_records / shard["path"]) == shard["sha256"]
        for example in examples:  # no leakage: every example's source belongs to this split only
            assert split_of(example["source"].decode(), (0.7, 0.2, 0.1)) == split
    assert total == 6
    assert not list(synthetic_records.glob(".*tmp*"))


def test_stored_example_round_trips(synthetic_records):
    from autotune_keras.data.synth import synthesize_phrase

    example = read_examples(synthetic_records, "train")[0]
    index = int(example["source"].decode().split("/")[1])
    phrase = synthesize_phrase(index, tiny_dataset_config().synthetic)
    hop = 128
    assert len(example["f0_hz"]) == (len(example["audio"]) - 1) // hop + 1
    np.testing.assert_allclose(example["f0_hz"], phrase.f0_hz[::hop][: len(example["f0_hz"])], rtol=1e-6)
    # loudness normalisation is one gain for input and twins; 16-bit storage keeps it exact
    performed = phrase.audio[: len(example["audio"])]
    gain = np.dot(example["audio"], performed) / np.dot(performed, performed)
    np.testing.assert_allclose(example["audio"], gain * phrase.audio[: len(example["audio"])], atol=2 / 32767)
    np.testing.assert_allclose(example["target_audio"], gain * phrase.in_tune_audio[: len(example["audio"])], atol=2 / 32767)
    assert example["instrument"].decode() == phrase.metadata["instrument"]
    assert example["key"].decode() == phrase.metadata["key"]


def test_rerun_skips_finished_work(synthetic_records, tmp_path):
    before = (synthetic_records / "manifest.json").read_text()
    mtimes = {p.name: p.stat().st_mtime_ns for p in synthetic_records.glob("*.tfrecord")}
    build_dataset("synthetic", synthetic_records, tiny_dataset_config(), progress=False)
    assert (synthetic_records / "manifest.json").read_text() == before
    assert {p.name: p.stat().st_mtime_ns for p in synthetic_records.glob("*.tfrecord")} == mtimes


def test_other_settings_need_overwrite(synthetic_records):
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_dataset("synthetic", synthetic_records, tiny_dataset_config(seed=99), progress=False)


def test_sigkill_then_rerun_gives_the_same_manifest(tmp_path, synthetic_records):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "autotune_keras.dataset", "--out", str(out), "--quiet",
               "--synthetic.num_phrases=6", "--synthetic.phrase_seconds=1.5", "--segment_seconds=1.5",
               "--sources_per_chunk=2", "--workers=1"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((out / ".chunks").glob("chunk-*.json")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the build finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "manifest.json").exists()
    subprocess.run(command, cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
    assert json.loads((out / "manifest.json").read_text()) == json.loads((synthetic_records / "manifest.json").read_text())
    assert not list(out.glob(".*tmp*"))


def test_folder_build_resamples_labels_and_skips_broken_files(audio_folder, tmp_path):
    manifest = build_dataset(str(audio_folder), tmp_path / "folder", tiny_dataset_config(), progress=False)
    reasons = {s["name"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"garbage.wav", "empty.flac", "short.wav", "silent.wav", "nan.wav"}
    assert "cannot decode" in reasons["garbage.wav"]
    assert "too short" in reasons["short.wav"]
    assert "silent" in reasons["silent.wav"]
    assert "NaN" in reasons["nan.wav"]
    used = {s["name"]: s for s in manifest["sources"]}
    assert set(used) == {"stereo48k.wav", "mono22k.flac", "sub/tone.ogg", "labelled.wav"}
    assert used["labelled.wav"]["labels"] == "sidecar:labelled.f0.csv"
    assert used["stereo48k.wav"]["labels"] == "pyin"
    examples = [e for split in ("train", "validation", "test") for e in read_examples(tmp_path / "folder", split)]
    by_source = {e["source"].decode(): e for e in examples}
    expected = {"stereo48k.wav": 220.0, "mono22k.flac": 330.0, "sub/tone.ogg": 440.0, "labelled.wav": 196.0}
    for name, hz in expected.items():
        example = by_source[name]
        voiced = example["f0_hz"][example["voicing"] > 0.5]
        assert len(voiced) > 0.7 * len(example["f0_hz"]), name
        assert np.median(voiced) == pytest.approx(hz, rel=0.01), name
    assert by_source["stereo48k.wav"]["instrument"].decode() == "violin"
    assert by_source["stereo48k.wav"]["tempo"] == pytest.approx(90.0)
    # loudness-normalised to -18 LUFS
    import pyloudnorm

    loudness = pyloudnorm.Meter(44100).integrated_loudness(by_source["stereo48k.wav"]["audio"].astype(np.float64))
    assert loudness == pytest.approx(-18.0, abs=0.3)


def test_cli_reports_a_missing_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.dataset", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "nowhere: not a folder of audio files" in result.stderr


def test_cli_help_lists_the_flags():
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.dataset", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"PAGER": "cat"},
    )
    assert result.returncode == 0
    text = result.stdout + result.stderr  # fire prints help to stderr when not on a terminal
    assert "python -m autotune_keras.dataset" in text and "--source" in text and "--synthetic.num_phrases" in text


def test_beam_worker_processes_build_the_same_shards_as_one_process(synthetic_records, tmp_path):
    """The DirectRunner with two processes (multi_processing) writes byte-identical shards, split
    the same way by source, as the in-process run that built the shared fixture."""
    manifest = build_dataset("synthetic", tmp_path / "two", replace(tiny_dataset_config(), workers=2), progress=False)
    one = json.loads((synthetic_records / "manifest.json").read_text())
    assert manifest["fingerprint"] == one["fingerprint"]
    assert manifest["splits"] == one["splits"]  # shard names, sizes and sha256 of every split
    assert manifest["sources"] == one["sources"]


def test_unknown_beam_runner_is_one_error_before_anything_is_written(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.dataset", "--out", str(tmp_path / "x"), "--runner", "NoSuchRunner"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "error: --runner NoSuchRunner: Unexpected pipeline runner" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_labelling_change_makes_old_builds_of_that_source_stale(monkeypatch):
    """A source's label version is part of its datasets' fingerprint: a folder built before the
    voice labels changed no longer counts as finished (its cached chunks are not reused), and the
    other sources' folders are untouched."""
    from autotune_keras.config import DatasetConfig
    from autotune_keras.data import build

    cfg = DatasetConfig()
    voice, synthetic = build._fingerprint(cfg, "voice"), build._fingerprint(cfg, "synthetic")
    monkeypatch.setattr(build, "LABEL_VERSIONS", {})
    assert build._fingerprint(cfg, "voice") != voice
    assert build._fingerprint(cfg, "synthetic") == synthetic

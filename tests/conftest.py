"""Shared fixtures: a tiny synthetic dataset, a folder of real audio files (good and bad), and a
tiny trained and exported detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from autotune_keras import contract
from autotune_keras.config import DatasetConfig, SyntheticConfig
from autotune_keras.data.build import build_dataset

SR = contract.SAMPLE_RATE
ROOT = Path(__file__).resolve().parent.parent


def tiny_dataset_config(**synthetic) -> DatasetConfig:
    """Six 1.5 s phrases, small chunks, built in-process."""
    params = {"num_phrases": 6, "phrase_seconds": 1.5} | synthetic
    return DatasetConfig(segment_seconds=1.5, sources_per_chunk=2, workers=1, synthetic=SyntheticConfig(**params))


@pytest.fixture(scope="session")
def synthetic_records(tmp_path_factory):
    """A built synthetic dataset folder (session-wide, read-only for tests)."""
    out = tmp_path_factory.mktemp("records") / "synthetic"
    build_dataset("synthetic", out, tiny_dataset_config(), progress=False)
    return out


# a pair 68 ms apart, one 11 ms apart (one attack), the closest pair 45 ms apart (20000, 22000), a lone note
CLOSE_PAIR_ONSETS = np.array([4000, 7000, 10000, 10500, 20000, 22000, 35000])


def records_with_onsets(folder: Path, onsets: np.ndarray, segments: int = 4) -> Path:
    """A dataset folder (train and validation splits) of 1 s noise segments labelled with ``onsets``."""
    import json

    from autotune_keras.data import records

    frames = SR // 128
    splits = {}
    for split in ("train", "validation"):
        writer = records.ShardWriter(folder, split, 1 << 24, SR)
        for i in range(segments):
            audio = np.random.default_rng(i).normal(0, 0.01, SR).astype(np.float32)
            zeros = np.zeros(frames, np.float32)
            writer.write(records.serialize(records.Segment(audio, zeros, zeros, f"s{i}", 0.0, {}, onsets=onsets)), SR)
        splits[split] = {"examples": segments, "seconds": float(segments), "shards": writer.close()}
    manifest = {"schema_version": records.SCHEMA_VERSION, "sample_rate": SR, "label_hop": 128, "splits": splits}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def harmonic_tone(f0: float, seconds: float, sr: int = SR, harmonics: int = 8) -> np.ndarray:
    """A steady harmonic tone (1/k amplitudes) at ``f0``."""
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, harmonics + 1) if k * f0 < sr / 2)
    return (0.3 * tone / np.max(np.abs(tone))).astype(np.float32)


@pytest.fixture(scope="session")
def audio_folder(tmp_path_factory):
    """Mixed formats, rates and channel counts, a sidecar f0 file, metadata, and broken files."""
    folder = tmp_path_factory.mktemp("audio")
    (folder / "sub").mkdir()
    sf.write(folder / "stereo48k.wav", np.stack([harmonic_tone(220.0, 2.0, 48000)] * 2, axis=1), 48000, subtype="PCM_16")
    sf.write(folder / "mono22k.flac", harmonic_tone(330.0, 1.5, 22050), 22050, subtype="PCM_24")
    sf.write(folder / "sub" / "tone.ogg", harmonic_tone(440.0, 1.2, 32000), 32000)
    sf.write(folder / "labelled.wav", harmonic_tone(196.0, 1.0, 44100), 44100, subtype="FLOAT")
    times = np.arange(0, 1.0, 0.01)
    rows = "\n".join(f"{t:.3f},{196.0:.3f},{0.95:.3f}" for t in times)
    (folder / "labelled.f0.csv").write_text("time,frequency,confidence\n" + rows + "\n")
    (folder / "metadata.csv").write_text("file,instrument,key,scale,tempo,genre\nstereo48k.wav,violin,A,MINOR,90,folk\n")
    # broken ones
    (folder / "garbage.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    (folder / "empty.flac").write_bytes(b"")
    sf.write(folder / "short.wav", harmonic_tone(220.0, 0.1), SR)
    sf.write(folder / "silent.wav", np.zeros(SR, np.float32), SR)
    nan = harmonic_tone(220.0, 1.0)
    nan[100] = np.nan
    sf.write(folder / "nan.wav", nan, SR, subtype="FLOAT")
    return folder


@pytest.fixture(scope="session")
def tiny_run(synthetic_records, tmp_path_factory):
    """A detector trained for a few steps (float + QAT) on the tiny dataset: enough that its
    confidence passes the engine threshold on voiced frames, so the corrector built on it corrects."""
    from autotune_keras.models.pitch_detector.training import DetectorExperiment, train
    from autotune_keras.training import load_experiment

    run_dir = tmp_path_factory.mktemp("run") / "detector"
    overrides = {
        "pipeline.records": str(synthetic_records), "pipeline.mix": [], "pipeline.mix_weights": [],
        "pipeline.batch_size": 8, "train.run_dir": str(run_dir),
        "train.epochs": 1, "train.steps_per_epoch": 8, "train.validation_steps": 2, "train.contour_clips": 1,
        "qat.epochs": 1, "qat.steps_per_epoch": 2,
    }  # fmt: skip
    train(load_experiment(DetectorExperiment, ROOT / "configs" / "pitch_detector.yaml", overrides))
    return run_dir


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory):
    """The tiny run exported to every format."""
    from autotune_keras.export.pipeline import export

    out = tmp_path_factory.mktemp("export") / "pitch_detector"
    export(tiny_run, out)
    return out


@pytest.fixture(scope="session")
def tiny_corrector_run(tiny_run, synthetic_records, tmp_path_factory):
    """The corrector's learned part trained for a few steps around the tiny detector."""
    from autotune_keras.train import main

    run_dir = tmp_path_factory.mktemp("run") / "corrector"
    overrides = {
        "detector_run": str(tiny_run), "pipeline.records": str(synthetic_records), "pipeline.mix": [], "pipeline.mix_weights": [],
        "pipeline.batch_size": 2,
        "train.run_dir": str(run_dir), "train.epochs": 2, "train.steps_per_epoch": 3, "train.validation_steps": 1,
        "buffers_per_example": 4, "pipeline.window_samples": 4096, "audio_summaries": 1,
    }  # fmt: skip
    main(str(ROOT / "configs" / "pitch_corrector.yaml"), **overrides)
    return run_dir


@pytest.fixture(scope="session")
def tiny_corrector(tiny_corrector_run, tmp_path_factory):
    """The tiny corrector run exported (its learned taps around the tiny detector network)."""
    from autotune_keras.export.pipeline import export

    out = tmp_path_factory.mktemp("corrector") / "pitch_corrector"
    export(tiny_corrector_run, out)
    return out

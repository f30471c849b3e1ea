"""Stream held-out segments through a model exactly as an engine would, and score the pitch."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.metrics import pitch_metrics


@dataclass
class LabelledClip:
    """A held-out segment with per-frame labels."""

    name: str
    audio: np.ndarray
    f0_hz: np.ndarray
    voicing: np.ndarray
    hop: int


def load_clips(records: str | Path, split: str = "test", limit: int | None = None) -> list[LabelledClip]:
    """Whole segments of a dataset split (unaugmented)."""
    import tensorflow as tf

    from autotune_keras.data import records as rec
    from autotune_keras.data.pipeline import read_manifest, shard_paths

    hop = int(read_manifest(records)["label_hop"])
    clips = []
    for raw in tf.data.TFRecordDataset(shard_paths(records, split)):
        example = rec.parse(raw)
        name = f"{example['source'].numpy().decode()}@{float(example['start_seconds']):.1f}s"
        clips.append(LabelledClip(name, example["audio"].numpy(), example["f0_hz"].numpy(), example["voicing"].numpy(), hop))
        if limit and len(clips) >= limit:
            break
    return clips


def add_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White noise at ``snr_db`` against the clip's RMS."""
    noise = np.random.default_rng(seed).standard_normal(len(audio))
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12
    return (audio + noise * rms / np.sqrt(np.mean(noise**2)) * 10 ** (-snr_db / 20)).astype(np.float32)


def buffer_labels(clip: LabelledClip, n_buffers: int, latency_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, f0 and voicing of what buffer ``i``'s output describes (its end minus the latency)."""
    instant = (np.arange(n_buffers) + 1) * contract.BUFFER_SIZE - latency_samples
    index = np.clip(instant // clip.hop, 0, len(clip.f0_hz) - 1)
    voiced = (clip.voicing[index] > 0.5) & (instant >= 0) & (clip.f0_hz[index] > 0)
    return instant / contract.SAMPLE_RATE, np.where(voiced, clip.f0_hz[index], 0.0), voiced


def evaluate_stream(runner, clips: list[LabelledClip], latency_samples: int, snr_db: float | None = None) -> dict:
    """RPA / RCA / voicing over every buffer of every clip, streamed with state; also seconds of
    compute per second of audio."""
    from autotune_keras.runtime import Stream

    refs, voiced_all, pitches, confidences = [], [], [], []
    compute, audio_seconds = 0.0, 0.0
    stream = Stream(runner)
    for i, clip in enumerate(clips):
        audio = add_noise(clip.audio, snr_db, seed=i) if snr_db is not None else clip.audio
        stream.reset()
        started = time.perf_counter()
        out = stream.run(audio)
        compute += time.perf_counter() - started
        audio_seconds += len(audio) / contract.SAMPLE_RATE
        n = len(out[contract.PitchDetectorTensors.PITCH])
        _, ref, voiced = buffer_labels(clip, n, latency_samples)
        refs.append(ref)
        voiced_all.append(voiced)
        pitches.append(out[contract.PitchDetectorTensors.PITCH].reshape(-1))
        confidences.append(out[contract.PitchDetectorTensors.CONFIDENCE].reshape(-1))
    scores = pitch_metrics(np.concatenate(refs), np.concatenate(voiced_all), np.concatenate(pitches), np.concatenate(confidences))
    scores["seconds_per_audio_second"] = compute / max(audio_seconds, 1e-9)
    scores["audio_seconds"] = audio_seconds
    return scores

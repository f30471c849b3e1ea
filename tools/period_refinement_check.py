"""How close the corrector's period refinement gets to the true pitch, beside the detector alone.

    python tools/period_refinement_check.py [--records tf_records/heldout_fluidr3] [--split test] [--limit 40] [--snr_db 30]

For each test phrase (white noise at ``snr_db``, as ``evaluate`` adds it), the shipped detector
is streamed buffer by buffer; at every confident buffer (>= 0.7) whose label is voiced,
``refine_period`` (models/pitch_corrector/core.py, the graph's own function) refines the
detector's period around the point 768 samples before the newest sample (where a fresh
stream's read head is) and both are compared with the labelled f0 there. Prints the share within
10 cents and the median absolute error, per family and overall, then per band of the labelled f0
with the detector's median signed error (a bias, + sharp). This isolates the refinement from the
rest of the corrector (no scale snapping, no read-head motion, no pYIN measurement).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from autotune_keras import contract  # noqa: E402
from autotune_keras.engine.stream import Stream  # noqa: E402
from autotune_keras.evaluation.clips import add_noise, load_clips  # noqa: E402
from autotune_keras.models.pitch_corrector.core import CorrectorConfig, refine_period  # noqa: E402
from autotune_keras.models.pitch_corrector.inference import load_detector  # noqa: E402

SR = contract.SAMPLE_RATE
DETECTOR = contract.PitchDetectorTensors


def clip_errors(clip, detector, snr_db: float | None, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cents from the label of the detector's and the refined pitch at each confident voiced buffer, and the label (Hz)."""
    cfg, n = CorrectorConfig(), contract.BUFFER_SIZE
    audio = add_noise(clip.audio, snr_db, seed) if snr_db is not None else clip.audio.astype(np.float32)
    history = cfg.history_samples
    padded = np.concatenate([np.zeros(history, np.float32), audio])
    stream = Stream(detector)
    stream.reset()
    windows, periods, truth = [], [], []
    for i in range(len(audio) // n):
        found = stream.process(audio[i * n : (i + 1) * n])
        pitch, confidence = float(found[DETECTOR.PITCH][0]), float(found[DETECTOR.CONFIDENCE][0])
        at = i * n + n - cfg.start_delay  # the sample a fresh read head plays
        frame = min(max(at // clip.hop, 0), len(clip.f0_hz) - 1)
        if confidence < contract.CONFIDENCE_THRESHOLD or clip.voicing[frame] < 0.5 or clip.f0_hz[frame] <= 0:
            continue
        windows.append(padded[i * n : i * n + history + n])
        periods.append(SR / pitch)
        truth.append(clip.f0_hz[frame])
    if not windows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    period = tf.constant(np.array(periods, np.float32)[:, None])
    centre = tf.fill(tf.shape(period), float(history + n - cfg.start_delay))
    refined = refine_period(tf.constant(np.stack(windows)), centre, period).numpy()[:, 0]
    truth = np.array(truth)
    return 1200 * np.log2(SR / period.numpy()[:, 0] / truth), 1200 * np.log2(SR / refined / truth), truth


F0_BANDS_HZ = (60, 100, 130, 165, 220, 330, 500, 800, 2100)


def main(records: str = "tf_records/heldout_fluidr3", limit: int = 40, snr_db: float | None = 30.0, split: str = "test") -> None:
    """Print the detector's and the refinement's accuracy on the first ``limit`` phrases of ``records``' ``split``."""
    detector = load_detector()
    families: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    clips = [clip for clip in load_clips(records, split, limit) if clip.target_audio is not None]
    for seed, clip in enumerate(clips):
        families.setdefault(clip.family, []).append(clip_errors(clip, detector, snr_db, seed))
    print(f"{records} [{split}]: {len(clips)} phrases, white noise at {snr_db} dB SNR; confident voiced buffers")
    print(f"{'family':12s} {'buffers':>8s}  {'detector <10c':>14s} {'refined <10c':>13s}  {'detector med':>13s} {'refined med':>12s}")
    rows = sorted(families.items()) + [("all", [e for errors in families.values() for e in errors])]
    for family, errors in rows:
        detected = np.concatenate([e[0] for e in errors])
        refined = np.concatenate([e[1] for e in errors])
        print(
            f"{family:12s} {len(detected):8d}  {np.mean(np.abs(detected) < 10):14.3f} {np.mean(np.abs(refined) < 10):13.3f}"
            f"  {np.median(np.abs(detected)):13.2f} {np.median(np.abs(refined)):12.2f}"
        )
    detected, refined, truth = (np.concatenate([e[k] for errors in families.values() for e in errors]) for k in range(3))
    print(f"\n{'f0 band (Hz)':12s} {'buffers':>8s}  {'detector <10c':>14s} {'refined <10c':>13s}  {'detector bias':>13s}")
    for low, high in zip(F0_BANDS_HZ[:-1], F0_BANDS_HZ[1:], strict=True):
        band = (truth >= low) & (truth < high)
        if band.any():
            print(
                f"{f'{low}-{high}':12s} {band.sum():8d}  {np.mean(np.abs(detected[band]) < 10):14.3f} {np.mean(np.abs(refined[band]) < 10):13.3f}"
                f"  {np.median(detected[band]):+13.1f}"
            )


if __name__ == "__main__":
    fire.Fire(main)

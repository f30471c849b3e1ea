"""Where a detector's octave errors are: per family and instrument, which way (octaves up or down),
how many the detector itself was confident about (>= the contract's 0.7) and how many lie within
two buffers of a note change or a voicing edge. Streams the INT8 export as the engine does.

    python tools/octave_errors.py --model saved_models/pitch_detector --records tf_records/heldout_fluidr3,tf_records/soundfont,tf_records/voice --limit 60
    python tools/octave_errors.py --model saved_models/pitch_detector --snr_db 20    # white noise added, as compare_detectors adds it
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402

from autotune_keras import contract  # noqa: E402
from autotune_keras.engine.exports import latency_samples  # noqa: E402
from autotune_keras.engine.runners import load_runner  # noqa: E402
from autotune_keras.evaluation.clips import load_clips  # noqa: E402
from autotune_keras.evaluation.detection import StreamedClip, stream_detector  # noqa: E402

NEAR_BUFFERS = 2  # a buffer this close to a note change or a voicing edge counts as "near a change"


def octave_steps(clip: StreamedClip) -> np.ndarray:
    """Per buffer: the whole number of octaves the reading is off by where it is an octave error
    (within 50 cents of a non-zero multiple of 1200 cents on a voiced buffer), else 0."""
    cents = 1200.0 * np.log2(np.maximum(clip.pitch, 1.0) / np.maximum(clip.ref_hz, 1.0))
    steps = np.round(cents / 1200.0)
    octave = (clip.voiced > 0.5) & (np.abs(cents - 1200.0 * steps) < 50.0) & (steps != 0)
    return np.where(octave, steps, 0).astype(int)


def near_change(clip: StreamedClip) -> np.ndarray:
    """Buffers within ``NEAR_BUFFERS`` of a voicing edge or a labelled pitch jump over 50 cents."""
    voiced = clip.voiced > 0.5
    cents = 1200.0 * np.log2(np.maximum(clip.ref_hz, 1.0))
    change = np.zeros(len(voiced), bool)
    change[1:] = (voiced[1:] != voiced[:-1]) | (np.abs(np.diff(cents)) > 50.0)
    index = np.flatnonzero(change)
    near = np.zeros(len(voiced), bool)
    for offset in range(-NEAR_BUFFERS, NEAR_BUFFERS + 1):
        near[np.clip(index + offset, 0, len(voiced) - 1)] = True
    return near


def main(
    model: str = "saved_models/pitch_detector",
    records: str = "tf_records/heldout_fluidr3,tf_records/soundfont,tf_records/voice",
    split: str = "test",
    limit: int | None = 60,
    top: int = 15,
    snr_db: float | None = None,
) -> None:
    """Print octave errors per family (share of voiced buffers, up / down, confident, near a
    change) and the ``top`` instruments with the most; ``limit``: clips per record folder;
    ``snr_db``: white noise added to each clip first (None: clean)."""
    folders = [f.strip() for f in records.split(",")] if isinstance(records, str) else list(records)
    clips = [clip for folder in folders for clip in load_clips(folder, split, limit)]
    streamed = stream_detector(load_runner(Path(model) / "pitch_detector_int8.tflite"), clips, latency_samples(model), snr_db)
    voiced, errors, up, confident, near = Counter(), Counter(), Counter(), Counter(), Counter()
    per_instrument = Counter()
    for clip in streamed:
        steps = octave_steps(clip)
        wrong = steps != 0
        voiced[clip.family] += int(np.sum(clip.voiced > 0.5))
        errors[clip.family] += int(np.sum(wrong))
        up[clip.family] += int(np.sum(steps > 0))
        confident[clip.family] += int(np.sum(wrong & (clip.confidence >= contract.CONFIDENCE_THRESHOLD)))
        near[clip.family] += int(np.sum(wrong & near_change(clip)))
        per_instrument[(clip.family, clip.instrument)] += int(np.sum(wrong))
    noise = f", white noise at {snr_db} dB SNR" if snr_db is not None else ""
    print(f"{len(clips)} clips of {' + '.join(folders)} [{split}]{noise}, {model}")
    print(f"{'family':14}{'voiced':>8}{'octave errors':>15}{'share':>8}{'up':>6}{'down':>6}{'confident':>11}{'near change':>13}")
    for family in sorted(voiced):
        share = errors[family] / max(voiced[family], 1)
        down = errors[family] - up[family]
        print(f"{family:14}{voiced[family]:8d}{errors[family]:15d}{share:8.4f}{up[family]:6d}{down:6d}{confident[family]:11d}{near[family]:13d}")
    total = sum(errors.values())
    print(f"{'all':14}{sum(voiced.values()):8d}{total:15d}{total / max(sum(voiced.values()), 1):8.4f}"
          f"{sum(up.values()):6d}{total - sum(up.values()):6d}{sum(confident.values()):11d}{sum(near.values()):13d}")  # fmt: skip
    print(f"\nmost octave errors ({top} instruments): " + ", ".join(f"{f}/{i} {n}" for (f, i), n in per_instrument.most_common(top) if n))


if __name__ == "__main__":
    fire.Fire(main)

"""Does evaluate's onset measure find where each note went? Checked on the real test phrases.

    python tools/timing_measure_check.py [--records A,B] [--limit 40] [--spread_ms 35]

For each records folder's test phrases (tones and drum loops apart):

* known moves: every grid line's notes read with their own random delay (uniform within
  +-spread_ms, changed half way between attacks and crossfaded, as a timing model moves notes;
  a drum loop's hits on one line move together); the error of the per-note measure
  (evaluation.timing.note_lags) against those delays; again with each change's crossfade ending
  --lead_ms before the moved attack (as the shipped model's quiet jumps may place it: a hold,
  23 ms), where a crossfade's own onset strength lies near the attack;
* the input: how far the older measure, which matched each grid line's attack with the on-grid
  twin (a different render), put the input's notes from their labelled deviations (the new one
  measures them exactly, by construction). Tones only: a drum loop's hits cannot be paired with
  their lines from the labels.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402

from autotune_keras import contract  # noqa: E402
from autotune_keras.evaluation.clips import load_timing_clips  # noqa: E402
from autotune_keras.evaluation.timing import aligned_lags, known_warp, note_lags, notes_and_lines  # noqa: E402

SR = contract.SAMPLE_RATE


def _summary(errors: list[np.ndarray]) -> str:
    e = np.concatenate(errors) if errors else np.zeros(0)
    e = e[np.isfinite(e)] / SR * 1e3
    if not len(e):
        return "no notes"
    return f"{len(e)} notes: error RMS {np.sqrt(np.mean(e**2)):.2f} ms, over 5 ms {np.mean(np.abs(e) > 5) * 100:.1f} %"


def main(records: str = "tf_records/heldout_fluidr3,tf_records/soundfont,tf_records/voice", limit: int = 40, spread_ms: float = 35.0, seed: int = 0, lead_ms: float = 23.2) -> None:
    """Print the measure's error on known per-note moves and the older measure's on the input."""
    rng = np.random.default_rng(seed)
    spread = int(spread_ms * SR / 1e3)
    for folder in records.split(","):
        known = {"tones": [], "drums": []}
        near = {"tones": [], "drums": []}
        twin = []
        for clip in load_timing_clips(folder, "test", limit):
            onsets, lines = notes_and_lines(clip)
            if not len(onsets):
                continue
            kind = "drums" if clip.family == "drums" else "tones"
            played, first = np.unique(onsets, return_index=True)
            grid_lines, line_of = np.unique(lines, return_inverse=True)
            per_line = rng.integers(-spread, spread + 1, len(grid_lines))  # a line's hits move together
            out = known_warp(clip.audio, played, per_line[line_of[first]])
            known[kind].append(note_lags(clip, out, onsets) - per_line[line_of])
            out = known_warp(clip.audio, played, per_line[line_of[first]], lead=int(lead_ms * SR / 1e3))
            near[kind].append(note_lags(clip, out, onsets) - per_line[line_of])
            if kind == "tones":
                step, _ = clip.grid()
                twin.append(aligned_lags(clip.audio, clip.grid_audio, lines, 0.45 * step, 0.3 * step, 0.3 * step) - (onsets - lines))
        print(f"{folder}: known moves, tones: {_summary(known['tones'])}; drums: {_summary(known['drums'])}")
        print(f"{folder}: known moves, crossfades {lead_ms:g} ms before the attacks, tones: {_summary(near['tones'])}; drums: {_summary(near['drums'])}")
        print(f"{folder}: input, matched with the on-grid twin (older measure), tones: {_summary(twin)}")


if __name__ == "__main__":
    fire.Fire(main)

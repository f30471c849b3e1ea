"""Where the timing model loses: its onset network, or the time warp behind it?

    python tools/timing_ceiling.py --run runs/timing_adjuster [--records A,B] [--split test] [--limit 25]

For each records folder's phrases of one split (played off a 16th-note grid, with on-grid twins):

* onset detection of the run's network (float weights, as the streaming graph calls it: 2048
  samples per call, peaks >= 0.5 at least 35 ms apart): precision and recall within 25 ms of
  the true onsets, and the median / RMS error of the ones found;
* the onset deviation from the grid (evaluate's score-informed measure, RMS and median) of the
  input, and of the exported streaming graph with its network replaced by the true onsets (an
  oracle network: a logit spike at each labelled onset). The oracle is the ceiling of the time
  warp; the gap between it and ``evaluate``'s figure for the model is the onset network's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from autotune_keras import contract  # noqa: E402
from autotune_keras.engine.runners import ModuleRunner  # noqa: E402
from autotune_keras.evaluation.clips import TimingClip, load_timing_clips  # noqa: E402
from autotune_keras.evaluation.timing import deviations  # noqa: E402
from autotune_keras.models.timing_adjuster.inference import Retimer  # noqa: E402
from autotune_keras.models.timing_adjuster.network import TimingConfig, onset_features  # noqa: E402
from autotune_keras.models.timing_adjuster.oracle import TrueOnsets  # noqa: E402
from autotune_keras.models.timing_adjuster.run import load_run  # noqa: E402
from autotune_keras.models.timing_adjuster.streaming import StreamingTimingAdjuster  # noqa: E402

SR = contract.SAMPLE_RATE
MATCH = int(0.025 * SR)


def onset_track(network, cfg: TimingConfig, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sample position, onset probability) of every analysed hop, calls laid end to end."""
    n, width = cfg.sequence, cfg.feature_samples
    padded = np.concatenate([np.zeros(width, np.float32), np.asarray(audio, np.float32), np.zeros(n + cfg.lookahead, np.float32)])
    heads = np.arange(width + n, len(padded) + 1, n)
    windows = np.stack([padded[h - width : h] for h in heads])
    probability = tf.sigmoid(network(onset_features(tf.constant(windows), cfg), training=False)).numpy()
    hops = (np.arange(cfg.analysed_frames) + cfg.first_analysed) * cfg.hop
    return (heads[:, None] - width - cfg.window_samples + hops[None, :]).reshape(-1), probability.reshape(-1)


def peaks(positions: np.ndarray, probability: np.ndarray, cfg: TimingConfig) -> np.ndarray:
    """Positions of local maxima >= the onset threshold, at least ``min_gap`` apart."""
    gap = max(1, cfg.min_gap // cfg.hop)
    keep = [i for i in range(len(probability)) if probability[i] >= cfg.onset_threshold and probability[i] == probability[max(0, i - gap) : i + gap + 1].max()]
    return positions[keep]


def detection(network, cfg: TimingConfig, clips: list[TimingClip]) -> dict:
    """Precision, recall and timing error of the network's onsets against the labelled ones."""
    hits, false, missed, errors = 0, 0, 0, []
    for clip in clips:
        found = peaks(*onset_track(network, cfg, clip.audio), cfg)
        used = set()
        for onset in clip.onsets[clip.onsets > 0]:
            j = int(np.argmin(np.abs(found - onset))) if len(found) else -1
            if j >= 0 and j not in used and abs(found[j] - onset) <= MATCH:
                used.add(j)
                hits += 1
                errors.append((found[j] - onset) / SR * 1e3)
            else:
                missed += 1
        false += len(found) - len(used)
    e = np.asarray(errors)
    return {
        "precision": hits / max(hits + false, 1),
        "recall": hits / max(hits + missed, 1),
        "error_median_ms": float(np.median(e)) if len(e) else float("nan"),
        "error_rms_ms": float(np.sqrt(np.mean(e**2))) if len(e) else float("nan"),
    }


def _rms_median(values: list[np.ndarray]) -> tuple[float, float]:
    d = np.concatenate(values)
    d = np.abs(d[np.isfinite(d)]) / SR * 1e3
    return float(np.sqrt(np.mean(d**2))), float(np.median(d))


def main(run: str = "runs/timing_adjuster", records: str = "tf_records/heldout_fluidr3,tf_records/voice,tf_records/soundfont", limit: int = 25, split: str = "test") -> None:
    """Print onset detection and the oracle ceiling per records folder."""
    timing = load_run(run)
    cfg = timing.experiment.model
    folders = records.split(",") if isinstance(records, str) else list(records)
    print(f"run {run}; {limit} {split} phrases per folder; onset matches within {MATCH / SR * 1e3:.0f} ms")
    print(f"{'records':28s} {'precision':>9s} {'recall':>7s} {'err med':>8s} {'err rms':>8s}   {'input RMS/med':>14s} {'oracle RMS/med':>15s}")
    for folder in folders:
        clips = load_timing_clips(folder, split, limit)
        found = detection(timing.float_net, cfg, clips)
        inputs, oracle = [], []
        for clip in clips:
            module = StreamingTimingAdjuster(TrueOnsets(clip.onsets[clip.onsets > 0], cfg), cfg)
            out = Retimer(ModuleRunner(module, contract.TIMING_ADJUSTER), cfg.latency_samples, cfg.lookahead).run(clip.audio, clip.tempo, 0.25, clip.grid()[1])["audio"]
            inputs.append(deviations(clip, clip.audio))
            oracle.append(deviations(clip, out))
        (ri, mi), (ro, mo) = _rms_median(inputs), _rms_median(oracle)
        print(
            f"{Path(folder).name:28s} {found['precision']:9.2f} {found['recall']:7.2f} {found['error_median_ms']:8.1f} {found['error_rms_ms']:8.1f}"
            f"   {ri:6.2f} / {mi:5.2f} {ro:7.2f} / {mo:5.2f}",
            flush=True,
        )


if __name__ == "__main__":
    fire.Fire(main)

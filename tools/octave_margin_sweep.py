"""Sweep the detector's octave check (model.suboctave_margin): RPA and octave errors per margin.

The check halves a decoded pitch when the NCCF at twice its period beats the NCCF at the period
by more than the margin (docs/DETECTOR.md). This streams a trained run's QAT (else float)
network over whole clips, buffer by buffer as the engine does, decodes each buffer once, applies
the check at every margin and scores each with mir_eval, so the margin can be chosen on the
validation splits and then read on the held-out ones.

    python tools/octave_margin_sweep.py --run runs/detector_v6 --split validation
    python tools/octave_margin_sweep.py --run runs/detector_v6 --records tf_records/heldout_fluidr3 --split test
"""

from __future__ import annotations

import dataclasses

import fire
import numpy as np
import tensorflow as tf

from autotune_keras.evaluation.clips import buffer_labels, buffer_windows, load_clips
from autotune_keras.evaluation.pitch_metrics import pitch_metrics
from autotune_keras.models.pitch_detector import network
from autotune_keras.models.pitch_detector.run import load_run


def main(
    run: str = "runs/pitch_detector",
    records: str = "tf_records/soundfont,tf_records/voice,tf_records/pitch_detector",
    split: str = "validation",
    limit: int = 120,
    margins: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
) -> None:
    """Print RPA 50 and octave errors at each margin (0: no check) on ``limit`` clips per folder."""
    trained = load_run(run)
    cfg, net = trained.experiment.model, trained.qat_net or trained.float_net
    clips = [clip for folder in records.split(",") for clip in load_clips(folder.strip(), split, limit)]
    reads, nccfs, refs, voiced, confidence = [], [], [], [], []
    for clip in clips:
        inputs = network.network_inputs(tf.constant(buffer_windows(clip.audio, cfg.context_samples)), cfg)
        outputs = net(inputs, training=False)
        reads.append(network.decode_pitch(outputs["pitch_logits"], cfg))
        nccfs.append(inputs["nccf"])
        confidence.append(network.calibrated_confidence(outputs["voicing_logit"], trained.calibration).numpy()[:, 0])
        _, ref, is_voiced = buffer_labels(clip, len(confidence[-1]), cfg.latency_samples)
        refs.append(ref)
        voiced.append(is_voiced)
    read, nccf = tf.concat(reads, axis=0), tf.concat(nccfs, axis=0)
    ref, is_voiced, conf = np.concatenate(refs), np.concatenate(voiced), np.concatenate(confidence)
    print(f"{len(clips)} clips of {records} [{split}], {int(is_voiced.sum())} voiced buffers, {run}")
    print(f"{'margin':>8}{'rpa_50':>10}{'octave_errors':>15}{'halved':>10}")
    for margin in margins:
        checked = network.octave_check(read, nccf, dataclasses.replace(cfg, suboctave_margin=float(margin))).numpy()[:, 0]
        scores = pitch_metrics(ref, is_voiced, checked, conf)
        halved = float(np.mean(checked < read.numpy()[:, 0]))
        print(f"{margin:8.2f}{scores['rpa_50']:10.4f}{scores['octave_errors']:15.4f}{halved:10.4f}")


if __name__ == "__main__":
    fire.Fire(main)

"""Sweep the detector's decoding: the subharmonic check (model.suboctave_margin,
model.subharmonics; RPA and octave errors per margin and set of divisors), then the
superharmonic check after the best of those (model.superharmonics, superharmonic_margin,
superharmonic_min_nccf), then the low-pitch refinement (model.refine_below_hz,
model.refine_min_nccf) after the best checks, then the streaming octave hold
(model.octave_hold_buffers, model.octave_hold_max_buffers, model.octave_hold_keep_confidence)
after the run's own decoding; the causal octave filter
(model.octave_filter_radius_bins, octave_filter_leak, octave_filter_reset_confidence) is swept
before the hold.
``--snr_db`` adds white noise to every clip first (as compare_detectors does).

The check divides a decoded pitch by k when the NCCF at k times its period beats the NCCF at the
period by more than the margin (docs/DETECTOR.md). This streams a trained run's QAT (else float)
network over whole clips, buffer by buffer as the engine does, decodes each buffer once, applies
the check at every margin and scores each with mir_eval, so the margin can be chosen on the
validation splits and then read on the held-out ones.

    python tools/octave_margin_sweep.py --run runs/detector_v6 --split validation
    python tools/octave_margin_sweep.py --run runs/detector_v6 --records tf_records/heldout_fluidr3 --split test
"""

from __future__ import annotations

import dataclasses
import itertools

import fire
import numpy as np
import tensorflow as tf

from autotune_keras.evaluation.clips import add_noise, buffer_labels, buffer_windows, load_clips
from autotune_keras.evaluation.pitch_metrics import pitch_metrics
from autotune_keras.models.pitch_detector import network
from autotune_keras.models.pitch_detector.run import load_run


def divisor_tuple(item) -> tuple[int, ...]:
    """A set of divisors as fire hands it over ("2,3", (2, 3) or 2) -> (2, 3)."""
    if isinstance(item, (tuple, list)):
        return tuple(int(k) for k in item)
    return tuple(int(k) for k in str(item).split(","))


def main(
    run: str = "runs/pitch_detector",
    records: str = "tf_records/soundfont,tf_records/voice,tf_records/pitch_detector",
    split: str = "validation",
    limit: int = 120,
    margins: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    divisors: tuple[str, ...] = ("2", "2,3", "2,3,4"),
    multipliers: tuple[str, ...] = ("", "2", "2,3,4"),
    super_margins: tuple[float, ...] = (0.0, 0.05, 0.1),
    super_min_nccf: tuple[float, ...] = (0.5, 0.8),
    refine_below_hz: tuple[float, ...] = (0.0, 150.0, 300.0, 600.0, 2000.0),
    refine_min_nccf: tuple[float, ...] = (0.8, 0.9),
    hold_buffers: tuple[int, ...] = (0, 1, 2, 4, 8, 16),
    hold_max_buffers: tuple[int, ...] = (4, 8, 16, 32),
    hold_keep_confidences: tuple[float, ...] | None = None,
    filter_radius_bins: tuple[int, ...] = (0, 4, 8, 16),
    filter_leaks: tuple[float, ...] = (0.001, 0.01, 0.05),
    filter_reset_confidences: tuple[float, ...] = (0.2, 0.5),
    snr_db: float | None = None,
) -> None:
    """Print RPA 50 and octave errors at each margin (0: no check) and each set of divisors
    (comma-separated, e.g. "2,3") on ``limit`` clips per folder; then, after the best of those, the
    same for each set of multipliers ("": off), margin and minimum NCCF of the superharmonic check;
    then, with the best checks, RPA at 50 / 25 / 10 cents for each setting of the low-pitch
    refinement; last, RPA and octave errors of the run's own decoding followed by the octave hold
    at each number of held buffers (0: off), of buffers before an octave jump is taken and of the
    lowest confidence that keeps a held note (default: the run's own).
    ``snr_db``: white noise added to every clip first."""
    trained = load_run(run)
    cfg, net = trained.experiment.model, trained.qat_net or trained.float_net
    clips = [clip for folder in records.split(",") for clip in load_clips(folder.strip(), split, limit)]
    reads, logits, nccfs, refs, voiced, confidence, lengths = [], [], [], [], [], [], []
    for i, clip in enumerate(clips):
        audio = add_noise(clip.audio, snr_db, seed=i) if snr_db is not None else clip.audio
        inputs = network.network_inputs(tf.constant(buffer_windows(audio, cfg.context_samples)), cfg)
        outputs = net(inputs, training=False)
        reads.append(network.decode_pitch(outputs["pitch_logits"], cfg))
        logits.append(outputs["pitch_logits"])
        nccfs.append(inputs["nccf"])
        confidence.append(network.calibrated_confidence(outputs["voicing_logit"], trained.calibration).numpy()[:, 0])
        _, ref, is_voiced = buffer_labels(clip, len(confidence[-1]), cfg.latency_samples)
        refs.append(ref)
        voiced.append(is_voiced)
        lengths.append(len(ref))
    read, nccf, logit = tf.concat(reads, axis=0), tf.concat(nccfs, axis=0), tf.concat(logits, axis=0)
    ref, is_voiced, conf = np.concatenate(refs), np.concatenate(voiced), np.concatenate(confidence)
    noise = f", white noise at {snr_db} dB SNR" if snr_db is not None else ""
    print(f"{len(clips)} clips of {records} [{split}]{noise}, {int(is_voiced.sum())} voiced buffers, {run}")
    print(f"{'divisors':>10}{'margin':>8}{'rpa_50':>10}{'octave_errors':>15}{'divided':>10}")
    best = (-1.0, cfg)
    for divisor_set in divisors:
        for margin in margins:
            checked_cfg = dataclasses.replace(cfg, suboctave_margin=float(margin), subharmonics=divisor_tuple(divisor_set), refine_below_hz=0.0)
            checked = network.subharmonic_check(read, nccf, checked_cfg).numpy()[:, 0]
            scores = pitch_metrics(ref, is_voiced, checked, conf)
            divided = float(np.mean(checked < read.numpy()[:, 0]))
            ks = ",".join(map(str, checked_cfg.subharmonics))
            print(f"{ks:>10}{margin:8.2f}{scores['rpa_50']:10.4f}{scores['octave_errors']:15.4f}{divided:10.4f}")
            best = max(best, (scores["rpa_50"], checked_cfg), key=lambda pair: pair[0])
    sub_cfg = best[1]
    sub_checked = network.subharmonic_check(read, nccf, sub_cfg)
    print(f"\nsuperharmonic check after the subharmonic check at divisors {list(sub_cfg.subharmonics)}, margin {sub_cfg.suboctave_margin}")
    print(f"{'multipliers':>12}{'margin':>8}{'min_nccf':>10}{'rpa_50':>10}{'octave_errors':>15}{'multiplied':>12}")
    best = (-1.0, sub_cfg)
    for multiplier_set in multipliers:
        ks = divisor_tuple(multiplier_set) if str(multiplier_set) else ()
        for margin in super_margins if ks else super_margins[:1]:
            for min_nccf in super_min_nccf if ks else super_min_nccf[:1]:
                super_cfg = dataclasses.replace(sub_cfg, superharmonics=ks, superharmonic_margin=float(margin), superharmonic_min_nccf=float(min_nccf))
                checked = network.superharmonic_check(sub_checked, nccf, super_cfg).numpy()[:, 0]
                scores = pitch_metrics(ref, is_voiced, checked, conf)
                multiplied = float(np.mean(checked > sub_checked.numpy()[:, 0]))
                label = ",".join(map(str, ks)) or "off"
                print(f"{label:>12}{margin:8.2f}{min_nccf:10.2f}{scores['rpa_50']:10.4f}{scores['octave_errors']:15.4f}{multiplied:12.4f}")
                best = max(best, (scores["rpa_50"], super_cfg), key=lambda pair: pair[0])
    checked_cfg = best[1]
    print(
        f"\nrefinement after the checks: divisors {list(checked_cfg.subharmonics)} at {checked_cfg.suboctave_margin}, "
        f"multipliers {list(checked_cfg.superharmonics)} at {checked_cfg.superharmonic_margin} (min NCCF {checked_cfg.superharmonic_min_nccf})"
    )
    print(f"{'below_hz':>10}{'min_nccf':>10}{'rpa_50':>10}{'rpa_25':>10}{'rpa_10':>10}{'median_cents':>14}")
    for below in refine_below_hz:
        for min_nccf in refine_min_nccf if below > 0 else refine_min_nccf[:1]:
            refine_cfg = dataclasses.replace(checked_cfg, refine_below_hz=float(below), refine_min_nccf=float(min_nccf))
            checked = network.superharmonic_check(network.subharmonic_check(read, nccf, refine_cfg), nccf, refine_cfg)
            refined = network.refine_pitch(checked, nccf, refine_cfg).numpy()[:, 0]
            scores = pitch_metrics(ref, is_voiced, refined, conf)
            print(
                f"{below:10.0f}{min_nccf:10.2f}{scores['rpa_50']:10.4f}{scores['rpa_25']:10.4f}{scores['rpa_10']:10.4f}"
                f"{scores['median_abs_cents']:14.2f}"
            )
    print(
        f"\noctave filter (radius 0: off) after the run's checks, then the run's octave hold\n"
        f"{'radius':>8}{'leak':>8}{'reset':>8}{'rpa_50':>10}{'octave_errors':>15}"
    )
    for radius in filter_radius_bins:
        for leak, reset in itertools.product(filter_leaks, filter_reset_confidences) if radius > 0 else [(filter_leaks[0], filter_reset_confidences[0])]:
            filter_cfg = dataclasses.replace(cfg, octave_filter_radius_bins=int(radius), octave_filter_leak=float(leak), octave_filter_reset_confidence=float(reset))
            peak = streamed_octave_filter(logit.numpy(), conf, lengths, filter_cfg) if radius > 0 else None
            filtered = network.decode_and_check(logit, nccf, filter_cfg, peak).numpy()[:, 0]
            scores = pitch_metrics(ref, is_voiced, streamed_octave_hold(filtered, conf, lengths, filter_cfg), conf)
            print(f"{radius:8d}{leak:8.3f}{reset:8.2f}{scores['rpa_50']:10.4f}{scores['octave_errors']:15.4f}")
    peak = streamed_octave_filter(logit.numpy(), conf, lengths, cfg) if cfg.octave_filter_radius_bins > 0 else None
    decoded = network.decode_and_check(logit, nccf, cfg, peak)
    keeps = hold_keep_confidences or (cfg.octave_hold_keep_confidence,)
    print(f"\noctave hold after the run's own decoding (hold 0: off)\n{'hold':>6}{'take_after':>12}{'keep_from':>11}{'rpa_50':>10}{'octave_errors':>15}")
    for held in hold_buffers:
        for take in hold_max_buffers if held > 0 else hold_max_buffers[:1]:
            for keep in keeps if held > 0 else keeps[:1]:
                hold_cfg = dataclasses.replace(cfg, octave_hold_buffers=int(held), octave_hold_max_buffers=int(take), octave_hold_keep_confidence=float(keep))
                held_pitch = streamed_octave_hold(decoded.numpy()[:, 0], conf, lengths, hold_cfg)
                scores = pitch_metrics(ref, is_voiced, held_pitch, conf)
                print(f"{held:6d}{take:12d}{keep:11.2f}{scores['rpa_50']:10.4f}{scores['octave_errors']:15.4f}")


def clip_batches(lengths: list[int], total: int) -> tuple[np.ndarray, int]:
    """Indices [clips, steps] that lay the concatenated clips out as one batch (each clip padded
    past its end with the last buffer), and the number of steps."""
    starts = np.cumsum([0, *lengths[:-1]])
    steps = max(lengths)
    return np.minimum(starts[:, None] + np.arange(steps)[None, :], total - 1), steps


def streamed_octave_filter(logits: np.ndarray, confidence: np.ndarray, lengths: list[int], cfg: network.DetectorConfig) -> tf.Tensor:
    """``network.filter_octave`` run buffer by buffer over each clip (all clips as one batch, the
    belief zero at each clip's start and cleared as the streaming model clears it) -> the peak bin
    of every buffer [buffers, 1], the clips concatenated."""
    index, steps = clip_batches(lengths, len(logits))
    batched, confidences = tf.constant(logits[index], tf.float32), tf.constant(confidence[index], tf.float32)
    belief, peaks = tf.zeros((len(lengths), cfg.n_bins)), []
    for step in range(steps):
        peak, belief = network.filter_octave(batched[:, step], belief, cfg)
        belief = tf.where(confidences[:, step : step + 1] >= cfg.octave_filter_reset_confidence, belief, 0.0)
        peaks.append(peak)
    peak = tf.concat(peaks, axis=1).numpy()
    return tf.constant(np.concatenate([peak[i, :length] for i, length in enumerate(lengths)])[:, None])


def streamed_octave_hold(pitch: np.ndarray, confidence: np.ndarray, lengths: list[int], cfg: network.DetectorConfig) -> np.ndarray:
    """``network.hold_octave`` run buffer by buffer over each clip (all clips as one batch, the
    state zero at each clip's start), as the exported graph runs it; the clips concatenated."""
    index, steps = clip_batches(lengths, len(pitch))
    pitches, confidences = tf.constant(pitch[index], tf.float32), tf.constant(confidence[index], tf.float32)
    state, out = tf.zeros((len(lengths), network.HOLD_STATE_SIZE)), []
    for step in range(steps):
        held, state = network.hold_octave(pitches[:, step : step + 1], confidences[:, step : step + 1], state, cfg)
        out.append(held)
    held = tf.concat(out, axis=1).numpy()
    return np.concatenate([held[i, :length] for i, length in enumerate(lengths)])


if __name__ == "__main__":
    fire.Fire(main)

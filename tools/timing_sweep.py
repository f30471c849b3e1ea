"""Choose the timing model's decision and time-warp settings on validation phrases.

    python tools/timing_sweep.py --run runs/timing_adjuster \
        --variants '[{}, {"onset_threshold": 0.3}, {"confidence_ramp": 0.0}]' [--split validation] [--limit 40] [--onsets true] \
        [--save_clips runs/sweep_a.json [--overwrite]] [--against runs/sweep_b.json]

Each variant replaces fields of the run's ``TimingConfig`` that do not change the network
(``onset_threshold``, ``confidence_ramp``, ``min_gap``, ``same_line_onsets``, ``hold``,
``return_hold``, ``guard``, ``on_grid_tolerance``, ...). The run's QAT network (float weights when
QAT did not run), in float, is streamed inside the same graph ``export`` writes, over each records
folder's phrases; printed per variant: the score-informed onset deviation from the grid (RMS and
median, ms; ``evaluate``'s measure), overall, per folder and for the drum loops among them, and how far notes already on the grid
moved (median and largest, ms, and the share moved less than 5 ms). ``--onsets true`` puts the labelled onsets in place of the network
(models/timing_adjuster/oracle.py), to see what a time-warp setting does on its own.
``--run A,B,C`` averages the onset likelihoods of several runs' networks (an ensemble; the
settings are the first run's), to see how much of the networks' error differs from run to run.
``--save_clips`` writes each variant's per-phrase RMS deviation (JSON); ``--against`` such a file
prints each variant's RMS deviation less the file's first variant's with a 95 % interval from a
paired bootstrap over phrases (``evaluate``'s, so two runs are compared on validation as on test).
The chosen values go into the run's ``config.yaml`` (or the experiment config) before ``export``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402

from autotune_keras import contract  # noqa: E402
from autotune_keras.engine.runners import ModuleRunner  # noqa: E402
from autotune_keras.evaluation.clips import load_timing_clips  # noqa: E402
from autotune_keras.evaluation.timing import ON_GRID_KEPT_MS, deviations, on_grid_moves, rms_difference_interval  # noqa: E402
from autotune_keras.files import atomic_write_json, check_output_file  # noqa: E402
from autotune_keras.models.timing_adjuster.inference import Retimer  # noqa: E402
from autotune_keras.models.timing_adjuster.oracle import TrueOnsets  # noqa: E402
from autotune_keras.models.timing_adjuster.run import load_run  # noqa: E402
from autotune_keras.models.timing_adjuster.streaming import StreamingTimingAdjuster  # noqa: E402

SR = contract.SAMPLE_RATE
NETWORK_FIELDS = {"window_samples", "hop", "n_fft", "bands", "pitch_bands", "pitch_fmin", "pitch_n_fft", "filters", "kernel", "layers", "dilation_growth", "lookahead"}


def _drums(per_clip: list, drums: list[bool]) -> str:
    """The drum loops' RMS / median among the clips' deviations ("" when there are none)."""
    chosen = [d for d, is_drums in zip(per_clip, drums, strict=True) if is_drums]
    return f"  drums {_rms_median(chosen)}" if chosen else ""


def _averaged(networks: list):
    """One network, or a callable giving the logit of several networks' mean likelihood."""
    if len(networks) == 1:
        return networks[0]
    import tensorflow as tf

    def network(features, training=False):
        mean = tf.add_n([tf.sigmoid(net(features, training=False)) for net in networks]) / len(networks)
        mean = tf.clip_by_value(mean, 1e-6, 1.0 - 1e-6)
        return tf.math.log(mean) - tf.math.log1p(-mean)

    return network


def _parse(variants) -> list[dict]:
    """The variants as dicts (fire may already have parsed the JSON, with true/false as strings)."""
    chosen = json.loads(variants) if isinstance(variants, str) else list(variants)
    flags = {"true": True, "false": False}
    return [{key: flags.get(value, value) if isinstance(value, str) else value for key, value in dict(v).items()} for v in chosen]


def _ms(values: list[np.ndarray]) -> np.ndarray:
    d = np.concatenate(values) if values else np.zeros(0)
    return np.abs(d[np.isfinite(d)]) / SR * 1e3


def _rms_median(values: list[np.ndarray]) -> str:
    d = _ms(values)
    return f"{np.sqrt(np.mean(d**2)):6.2f} / {np.median(d):5.2f}" if len(d) else "   n/a"


def _clip_row(name: str, deviation: np.ndarray) -> dict:
    """One phrase's row for ``rms_difference_interval``: its name, notes found and RMS (ms)."""
    d = _ms([deviation])
    return {"name": name, "notes": int(len(d)), "onset_deviation_rms_ms": float(np.sqrt(np.mean(d**2))) if len(d) else 0.0}


def main(run: str = "runs/timing_adjuster", variants: str = "[{}]", records: str = "tf_records/soundfont,tf_records/voice",
         split: str = "validation", limit: int = 40, onsets: str = "network", save_clips: str = "", against: str = "", overwrite: bool = False) -> None:  # fmt: skip
    """Print the onset deviation of each variant of the run's settings."""
    if save_clips:
        try:
            check_output_file(save_clips, overwrite)
        except (OSError, ValueError) as error:
            raise SystemExit(f"error: --save_clips {error}") from None
    reference = None
    if against:
        try:
            reference = next(iter(json.loads(Path(against).read_text()).values()))
        except (OSError, ValueError, StopIteration) as error:
            raise SystemExit(f"error: --against {against}: not a file --save_clips wrote ({error})") from None
    timings = [load_run(path) for path in (run.split(",") if isinstance(run, str) else list(run))]  # fire may give a tuple
    timing = timings[0]
    network = _averaged([t.qat_net if t.qat_net is not None else t.float_net for t in timings])
    chosen = _parse(variants)
    if onsets not in ("network", "true"):
        raise SystemExit(f"error: --onsets {onsets!r}: network or true")
    known = {field.name for field in dataclasses.fields(timing.experiment.model)}
    for variant in chosen:
        unknown = set(variant) - known
        if unknown:
            raise SystemExit(f"error: {sorted(unknown)} are not TimingConfig fields (model.* in configs/timing_adjuster.yaml)")
        wrong = set(variant) & NETWORK_FIELDS
        if wrong:
            raise SystemExit(f"error: {sorted(wrong)} change the onset network itself: train a run with them instead")
    folders = records.split(",") if isinstance(records, str) else list(records)
    try:
        clips = {Path(folder).name: load_timing_clips(folder, split, limit) for folder in folders}
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"run {run}; {limit} {split} phrases per folder; onsets: {onsets}; onset deviation RMS / median (ms)")
    inputs = {name: [deviations(clip, clip.audio) for clip in group] for name, group in clips.items()}
    drums = [clip.family == "drums" for group in clips.values() for clip in group]
    print(f"{'input':40s} all {_rms_median(sum(inputs.values(), []))}  " + "  ".join(f"{name} {_rms_median(v)}" for name, v in inputs.items())
          + _drums(sum(inputs.values(), []), drums))  # fmt: skip
    saved = {}
    for variant in chosen:
        cfg = dataclasses.replace(timing.experiment.model, **variant)
        per, on_grid, rows = {}, [], []
        for name, group in clips.items():
            for clip in group:
                finder = TrueOnsets(clip.onsets[clip.onsets > 0], cfg) if onsets == "true" else network
                module = StreamingTimingAdjuster(finder, cfg)
                retimer = Retimer(ModuleRunner(module, contract.TIMING_ADJUSTER), cfg.latency_samples, cfg.lookahead)
                out = retimer.run(clip.audio, clip.tempo, 0.25, clip.grid()[1])["audio"]
                per.setdefault(name, []).append(deviations(clip, out))
                on_grid.append(on_grid_moves(clip, out))
                rows.append(_clip_row(f"{name}/{clip.name}", per[name][-1]))
        moved = _ms(on_grid)
        print(
            f"{json.dumps(variant):40s} all {_rms_median(sum(per.values(), []))}  "
            + "  ".join(f"{name} {_rms_median(v)}" for name, v in per.items())
            + _drums(sum(per.values(), []), drums)
            + (f"  on-grid moved median {np.median(moved):.2f} max {moved.max():.2f}"
               f" < {ON_GRID_KEPT_MS:g} ms {np.mean(moved < ON_GRID_KEPT_MS) * 100:.1f} %" if len(moved) else ""),
            flush=True,
        )
        saved[json.dumps(variant)] = rows
        if reference is not None:
            try:
                gap = rms_difference_interval(rows, reference)
            except ValueError:
                raise SystemExit(f"error: --against {against} holds other phrases (its --records, --split and --limit must match)") from None
            print(f"{'':40s} less {against}'s: {gap['ms']:+.2f} ms [{gap['low']:+.2f}, {gap['high']:+.2f}] (95 %, phrases resampled)", flush=True)
    if save_clips:
        Path(save_clips).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(save_clips, saved)


if __name__ == "__main__":
    fire.Fire(main)

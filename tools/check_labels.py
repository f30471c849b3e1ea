"""Check the real-timbre labels against the audio, as the issue demands rather than assumes.

    python tools/check_labels.py                      # training banks + FluidR3 + festival voices
    python tools/check_labels.py --banks /path/a.sf2 --keys_step 1

1. Held notes of every (bank, program) across its range, no vibrato and no bend (and a second pass
   with a static bend of up to +-50 cents, which checks the bend arithmetic), are rendered the way
   the dataset renders them; their pitch is measured frame by frame (pYIN voicing, refined to a
   fraction of a cent by time-frequency reassignment) and compared with the label on steady frames
   (after the attack). Reported per bank and family: the share of frames within 5 cents.
2. Samples that wander (recorded vibrato) are listed with their spread; notes the dataset cannot
   label (too far off, or wandering more than data/tuning.MAX_SPREAD_CENTS) are counted: the
   builder never plays them.
3. In-tune twins: phrases of each bank and of the festival voices; their steady frames (one scale
   note across the whole analysis window) measured against the scale note.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402

from autotune_keras import contract, music  # noqa: E402
from autotune_keras.data import gm  # noqa: E402
from autotune_keras.data.tuning import steady_frame_errors  # noqa: E402

TOLERANCE_CENTS = 5.0
HELD_SECONDS = 1.5
ATTACK_SECONDS = 0.15
WANDERING_CENTS = 5.0  # a note whose frames spread more than this is listed


def check_program(job: tuple[str, int, int, int]) -> dict:
    """Held notes of one (bank, program): frame errors with and without a static bend."""
    from autotune_keras.data import soundfont
    from autotune_keras.data.fluid import BLOCK, RenderNote, bend_units, units_to_cents
    from autotune_keras.data.tuning import VELOCITIES

    bank, program, keys_step, seed = job
    spec = gm.PROGRAMS[program]
    synth, tuning = soundfont.renderer(bank)
    result = {"bank": gm.bank_name(bank), "program": spec.name, "family": spec.family, "notes": 0, "unlabellable": 0,
              "errors": [], "bend_errors": [], "wandering": []}  # fmt: skip
    if not synth.has_program(program):
        result["missing"] = True
        return result
    table = tuning.program(program, spec.low, spec.high)
    rng = np.random.default_rng([seed, program])
    blocks = int(HELD_SECONDS * contract.SAMPLE_RATE / BLOCK)
    for key in range(spec.low, spec.high + 1):
        layers = [v for v in VELOCITIES if table[f"{key}/{v}"].usable]
        result["unlabellable"] += len(VELOCITIES) - len(layers)
        for v in VELOCITIES:
            entry = table[f"{key}/{v}"]
            if entry.frames and entry.spread_cents > WANDERING_CENTS:
                result["wandering"].append({"key": key, "velocity": v, "spread_cents": round(entry.spread_cents, 1),
                                            "labelled": entry.usable})  # fmt: skip
        if not layers or (key - spec.low) % keys_step:
            continue
        velocity = int(rng.choice(layers))
        tune = table[f"{key}/{velocity}"].offset_cents
        for bent in (False, True):
            units = int(bend_units(rng.uniform(-50, 50))) if bent else 0
            audio = synth.render(program, [RenderNote(key, velocity, 0, blocks, np.array([units]))], blocks)
            label = np.full(len(audio), music.midi_to_hz(key + (units_to_cents(units) + tune) / 100))
            label[: int(ATTACK_SECONDS * contract.SAMPLE_RATE)] = 0.0
            errors = steady_frame_errors(audio, label)
            result["bend_errors" if bent else "errors"].extend(np.round(errors, 3).tolist())
        result["notes"] += 1
    return result


def twin_errors(job: tuple[str, str, int]) -> dict:
    """Steady-frame errors of the in-tune twins of a few phrases of one bank or of the voices."""
    kind, bank, count = job
    from autotune_keras.config import SoundfontConfig, VoiceConfig

    errors, skipped = [], 0
    if kind == "soundfont":
        from autotune_keras.data import soundfont

        cfg = SoundfontConfig(num_phrases=count, banks=(bank,), programs=tuple(sorted(gm.PROGRAMS)))
        step = max(1, len(gm.PROGRAMS) // count)
        chosen = [soundfont.SoundfontPhrase(i * step, bank, sorted(gm.PROGRAMS)[(i * step) % len(gm.PROGRAMS)]) for i in range(count)]
        render = lambda phrase: soundfont.render_phrase(phrase, cfg)  # noqa: E731
        fail = soundfont.UnlabellableProgram
    else:
        from autotune_keras.data import voice

        cfg = VoiceConfig(num_phrases=count)
        chosen = voice.phrases(cfg)
        render = lambda phrase: voice.render_phrase(phrase, cfg)  # noqa: E731
        fail = voice.VoiceError
    for phrase in chosen:
        try:
            rendered = render(phrase)
        except fail:
            skipped += 1
            continue
        target = rendered.target_f0_hz.copy()
        for onset in rendered.onsets:  # the attacks are left out, as for held notes
            target[onset : onset + int(ATTACK_SECONDS * contract.SAMPLE_RATE)] = 0.0
        errors.extend(steady_frame_errors(rendered.in_tune_audio, target).tolist())
    return {"kind": kind, "bank": gm.bank_name(bank) if bank else "festival voices", "errors": errors, "skipped": skipped}


def share(errors) -> float:
    errors = np.asarray(errors)
    return float(np.mean(np.abs(errors) <= TOLERANCE_CENTS)) if len(errors) else float("nan")


def main(
    banks: tuple[str, ...] = gm.DEFAULT_TRAINING_BANKS + gm.DEFAULT_HELD_OUT_BANKS,
    keys_step: int = 2,
    phrases: int = 24,
    workers: int = 2,
    seed: int = 0,
    json_out: str | None = None,
) -> None:
    """Render, measure and compare; print the tables (and write them as JSON with --json_out)."""
    from tqdm import tqdm

    banks = (banks,) if isinstance(banks, str) else tuple(banks)
    jobs = [(bank, program, keys_step, seed) for bank in banks for program in sorted(gm.PROGRAMS)]
    twin_jobs = [("soundfont", bank, phrases) for bank in banks] + [("voice", "", phrases)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        results = list(tqdm(pool.map(check_program, jobs), total=len(jobs), desc="held notes", unit="program"))
        twins = list(tqdm(pool.map(twin_errors, twin_jobs), total=len(twin_jobs), desc="in-tune twins", unit="bank"))
    groups = defaultdict(lambda: {"errors": [], "bend_errors": [], "notes": 0, "unlabellable": 0, "programs": 0})
    for r in results:
        group = groups[(r["bank"], r["family"])]
        group["errors"] += r["errors"]
        group["bend_errors"] += r["bend_errors"]
        group["notes"] += r["notes"]
        group["unlabellable"] += r["unlabellable"]
        group["programs"] += 0 if r.get("missing") else 1
    print(f"Held notes: share of steady frames within {TOLERANCE_CENTS:g} cents of the label (pYIN-voiced, reassigned pitch)\n")
    print(f"{'bank':12} {'family':12} {'programs':>8} {'notes':>6} {'frames':>7} {'no bend':>8} {'bent':>7} {'median |c|':>10} {'unlabellable samples':>21}")
    rows = []
    for (bank, family), g in sorted(groups.items()):
        errors = np.asarray(g["errors"])
        row = {"bank": bank, "family": family, "programs": g["programs"], "notes": g["notes"], "frames": len(errors),
               "within_5_cents": share(errors), "within_5_cents_bent": share(g["bend_errors"]),
               "median_abs_cents": float(np.median(np.abs(errors))) if len(errors) else float("nan"),
               "unlabellable_samples": g["unlabellable"]}  # fmt: skip
        rows.append(row)
        print(f"{bank:12} {family:12} {row['programs']:8d} {row['notes']:6d} {row['frames']:7d} {row['within_5_cents']:8.4f} "
              f"{row['within_5_cents_bent']:7.4f} {row['median_abs_cents']:10.2f} {row['unlabellable_samples']:21d}")  # fmt: skip
    print(f"\nSamples whose pitch wanders more than {WANDERING_CENTS:g} cents (half the 2.5-97.5 % range of their frames):")
    wandering = []
    for r in results:
        if r["wandering"]:
            spreads = [w["spread_cents"] for w in r["wandering"]]
            labelled = sum(w["labelled"] for w in r["wandering"])
            wandering.append({"bank": r["bank"], "program": r["program"], "samples": len(spreads), "labelled": labelled,
                              "spread_cents_median": float(np.median(spreads)), "spread_cents_max": float(max(spreads))})  # fmt: skip
            print(f"  {r['bank']:12} {r['program']:24} {len(spreads):3d} samples, spread median {np.median(spreads):5.1f} "
                  f"max {max(spreads):5.1f} cents; {labelled} of them still labelled (spread <= limit)")  # fmt: skip
    print(f"\nIn-tune twins: share of steady frames within {TOLERANCE_CENTS:g} cents of the scale note")
    for t in twins:
        errors = np.asarray(t["errors"])
        print(f"  {t['kind']:9} {t['bank']:16} frames {len(errors):6d}  within {share(errors):.4f}  "
              f"median |c| {np.median(np.abs(errors)) if len(errors) else float('nan'):.2f}  phrases skipped {t['skipped']}")
    if json_out:
        twin_rows = [{"kind": t["kind"], "bank": t["bank"], "frames": len(t["errors"]), "within_5_cents": share(t["errors"])} for t in twins]
        Path(json_out).write_text(json.dumps({"held_notes": rows, "wandering": wandering, "in_tune_twins": twin_rows}, indent=1))


if __name__ == "__main__":
    fire.Fire(main)

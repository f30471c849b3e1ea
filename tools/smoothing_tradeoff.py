"""What the optional causal smoothing (engine/smoothing.py) does: RPA, voicing recall and false
alarms on held-out real timbres, confident buffers on beds that hold no melody (silence, noise at
-30 dBFS, drum loops, a chordal music bed), and what it costs in latency.

    python tools/smoothing_tradeoff.py --model saved_models/pitch_detector --records tf_records/heldout_fluidr3,tf_records/voice
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
from autotune_keras.engine.smoothing import CausalSmoother, smooth_track  # noqa: E402
from autotune_keras.engine.stream import stream  # noqa: E402
from autotune_keras.evaluation.clips import load_clips  # noqa: E402
from autotune_keras.evaluation.detection import score_streamed, stream_detector  # noqa: E402

SR = contract.SAMPLE_RATE
BED_SECONDS = 20.0


def beds(seed: int = 0, bank: str = "/usr/share/sounds/sf2/FluidR3_GM.sf2") -> dict[str, np.ndarray]:
    """Audio with no melody to detect: silence, white and pink noise at -30 dBFS RMS, drum loops
    and a chordal bed (a string pad and a piano playing triads), both from a held-out soundfont."""
    rng = np.random.default_rng(seed)
    n = int(BED_SECONDS * SR)
    white = rng.standard_normal(n)
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.maximum(np.arange(n // 2 + 1), 1)), n)
    level = 10 ** (-30 / 20)
    out = {
        "silence": np.zeros(n, np.float32),
        "white noise -30 dBFS": (white / white.std() * level).astype(np.float32),
        "pink noise -30 dBFS": (pink / pink.std() * level).astype(np.float32),
    }
    try:
        from autotune_keras.config import SoundfontConfig
        from autotune_keras.data import soundfont
        from autotune_keras.data.fluid import BLOCK, RenderNote

        cfg = SoundfontConfig(num_phrases=0, drum_phrases=int(BED_SECONDS / 3), banks=(bank,), phrase_seconds=3.0)
        out["drum loops"] = np.concatenate([soundfont.render_phrase(p, cfg).audio for p in soundfont.phrases(cfg)])
        synth, _ = soundfont.renderer(bank)
        chords, blocks = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)], int(2.0 * SR / BLOCK)
        bed = []
        for program in (48, 0):  # string ensemble, piano
            for chord in chords * int(BED_SECONDS / 8):
                notes = [RenderNote(key, 90, 0, blocks - 8, np.zeros(1, np.int64)) for key in chord]
                bed.append(synth.render(program, notes, blocks))
        music = np.concatenate(bed)
        out["chordal music bed"] = (0.3 * music / (np.abs(music).max() + 1e-9)).astype(np.float32)
    except Exception as error:  # noqa: BLE001 - the beds FluidSynth makes are optional here
        print(f"(drum and music beds skipped: {error})")
    return out


def main(model: str = "saved_models/pitch_detector", records: str = "tf_records/heldout_fluidr3,tf_records/voice", limit: int | None = None):
    """Print the table: raw model output against the causally smoothed one."""
    runner = load_runner(model)
    folders = [f.strip() for f in records.split(",")]
    clips = [clip for folder in folders for clip in load_clips(folder, "test", limit)]
    streamed = stream_detector(runner, clips, latency_samples(model))
    raw = score_streamed(streamed)
    for s in streamed:
        s.pitch, s.confidence = smooth_track(s.pitch, s.confidence)
    smoothed = score_streamed(streamed)
    print(f"{len(clips)} held-out clips of {records} [test], {model}")
    print(f"{'':34}{'raw':>10}{'smoothed':>10}")
    for key, label in (("rpa_50", "RPA 50"), ("voicing_recall", "voicing recall"), ("voicing_false_alarm", "voicing false alarm")):
        print(f"{label:34}{raw[key]:10.4f}{smoothed[key]:10.4f}")
    print("\nconfident buffers (confidence >= 0.7) on beds with no melody:")
    signature = runner.signature
    for name, audio in beds().items():
        out = stream(runner, audio).outputs
        confidence = out[signature.confidence].reshape(-1)
        _, smoothed_confidence = smooth_track(out[signature.pitch].reshape(-1), confidence)
        print(f"  {name:32}{np.mean(confidence >= 0.7):10.4f}{np.mean(smoothed_confidence >= 0.7):10.4f}")
    smoother = CausalSmoother()
    started = time.perf_counter()
    for i in range(20000):
        smoother.step(220.0, 0.9 if i % 7 else 0.2)
    cost = (time.perf_counter() - started) / 20000 * 1e6
    print(f"\nlatency: a detection starts {smoother.start - 1} buffer(s) later ({(smoother.start - 1) * 512 / SR * 1e3:.1f} ms); "
          f"a pitch jump shows {smoother.median // 2} buffer(s) later; {cost:.1f} us per buffer in Python")  # fmt: skip


if __name__ == "__main__":
    fire.Fire(main)

"""Pitch-correct a file as an engine would: 512-sample buffers through the detector, each voiced
pitch snapped to the key / scale, then the corrector.

    python -m autotune_keras.correct IN.wav OUT.wav --key C --scale MAJOR --strength 1.0 --baseline
    python -m autotune_keras.correct IN.wav OUT.wav --key D --scale 19edo.scl --a4 432

The default corrector is the shipped ``saved_models/pitch_corrector``; ``--baseline`` runs the
classical DSP autotune (autotune_keras/dsp/baseline.py). Any input rate and channel count; OUT is
44.1 kHz mono float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotune_keras import audio as audio_io
from autotune_keras import contract, music
from autotune_keras.cli import run
from autotune_keras.files import check_output_file
from autotune_keras.models.pitch_corrector.inference import Autotune, load_corrector, load_detector


def main(
    input: str,
    output: str,
    key: str = "C",
    scale: str = "MAJOR",
    strength: float = 1.0,
    baseline: bool = False,
    model: str | None = None,
    detector: str | None = None,
    overwrite: bool = False,
    a4: float = 440.0,
    smooth: bool = False,
) -> None:
    """Pitch-correct IN to OUT (44.1 kHz mono float32 WAV).

    Args:
      input: audio file (any common format, rate and channel count).
      output: corrected WAV to write.
      key: key of the scale (C, C#, Db, ... B).
      scale: MAJOR, MINOR, BLUES, PENTATONIC, DORIAN, MIXOLYDIAN, CHROMATIC, a Scala file
        (NAME.scl: any tuning, microtonal included), or cents:0,200,... (degrees of an octave).
      a4: reference tuning in Hz (415-466): where the scale's notes lie.
      smooth: causal smoothing of the detected pitch before snapping (voicing hysteresis, a
        3-buffer median): no correction on one-buffer flickers.
      strength: 0 (no change) .. 1 (exactly on the scale note).
      baseline: use the classical DSP autotune instead of the neural corrector.
      model: corrector export folder or file (default saved_models/pitch_corrector).
      detector: detector export folder or file (default the shipped saved_models/pitch_detector).
      overwrite: replace an existing OUT (never IN itself).
    """
    music.key_to_pitch_class(key)
    scale = music.parse_scale(scale)
    a4 = music.check_a4(a4)
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"--strength {strength}: must be between 0 and 1")
    if not Path(input).is_file():
        raise FileNotFoundError(f"{input}: no such file" if not Path(input).exists() else f"{input}: is not a file")
    check_output_file(output, overwrite, inputs=(input,), suffixes=audio_io.WRITABLE_EXTENSIONS)
    from autotune_keras.engine.smoothing import CausalSmoother

    chain = Autotune(load_detector(detector), *load_corrector(model, baseline), smoother=CausalSmoother() if smooth else None)
    audio = audio_io.load_audio(input)
    result = chain.run(audio, key, scale, float(strength), progress=True, a4=a4)
    audio_io.write_audio(output, result["audio"])
    voiced = result["target"] > 0
    moved = np.abs(music.cents_between(result["pitch"][voiced], result["target"][voiced])) if voiced.any() else np.zeros(0)
    print(
        f"wrote {output}: {len(audio) / contract.SAMPLE_RATE:.1f} s, {voiced.mean() * 100:.0f} % of buffers voiced, "
        f"median correction {np.median(moved) if len(moved) else 0.0:.1f} cents"
    )


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.correct")


if __name__ == "__main__":
    cli()

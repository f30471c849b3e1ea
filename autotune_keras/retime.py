"""Move a performance's notes onto the tempo grid, naturally: attacks move as blocks, pitch stays.

    python -m autotune_keras.retime IN.wav OUT.wav --tempo 96 --grid 1/8 [--downbeat 0.52] [--strength 0.8]
    python -m autotune_keras.retime IN.wav OUT.wav --tempo 96 --grid 1/16 --baseline      # classical slicing

The default model is the shipped ``saved_models/timing_adjuster``, streamed 2048 samples at a time as
an engine runs it; its latency is taken back out, so OUT lines up with IN: same length, same rate
(mono).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotune_keras import audio as audio_io
from autotune_keras import contract
from autotune_keras.cli import run
from autotune_keras.files import check_output_file


def main(
    input: str,
    output: str,
    tempo: float | None = None,
    grid: str = "1/8",
    downbeat: float | None = None,
    strength: float = 1.0,
    model: str | None = None,
    baseline: bool = False,
    overwrite: bool = False,
) -> None:
    """Retime IN to OUT: each note's attack onto its nearest grid line.

    Args:
      input: audio file (any common format, rate and channel count).
      output: the retimed file to write (same length and rate as IN, mono).
      tempo: BPM (60-200), required.
      grid: 1/4, 1/8, 1/16, 1/8T or 1/16T.
      downbeat: the time (s) in the file of any grid line, as a DAW knows it; without it the
        grid's phase is estimated from the onsets.
      strength: 0 (leave the timing alone) .. 1 (onto the grid).
      model: timing model export folder or file (default saved_models/timing_adjuster).
      baseline: slice at the detected onsets and move the slices instead (classical).
      overwrite: replace an existing OUT (never IN itself).
    """
    import soundfile as sf

    from autotune_keras.models.timing_adjuster.inference import estimate_phase, grid_step_samples

    if tempo is None:
        raise ValueError("--tempo BPM is required: the tempo of the grid to move the notes onto")
    if not contract.TEMPO_MIN_BPM <= tempo <= contract.TEMPO_MAX_BPM:
        raise ValueError(f"--tempo {tempo:g}: must lie in {contract.TEMPO_MIN_BPM:g}-{contract.TEMPO_MAX_BPM:g} BPM")
    if grid not in contract.GRIDS:
        raise ValueError(f"--grid {grid}: expected one of {', '.join(contract.GRIDS)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"--strength {strength}: must be between 0 and 1")
    if not Path(input).is_file():
        raise FileNotFoundError(f"{input}: no such file" if not Path(input).exists() else f"{input}: is not a file")
    check_output_file(output, overwrite, inputs=(input,), suffixes=audio_io.WRITABLE_EXTENSIONS)
    rate = sf.info(input).samplerate if Path(input).suffix.lower() != ".mp3" else contract.SAMPLE_RATE
    audio = audio_io.load_audio(input)
    step_beats = contract.GRIDS[grid]
    if downbeat is None:
        phase = estimate_phase(audio, tempo, step_beats)
    else:
        phase = (-downbeat * contract.SAMPLE_RATE / grid_step_samples(tempo, step_beats)) % 1.0
    if baseline:
        from autotune_keras.dsp.retime import slice_retime

        retimed = slice_retime(audio, tempo, step_beats, phase, strength)
    else:
        from autotune_keras.engine.exports import latency_samples, shipped_model
        from autotune_keras.engine.runners import ModelLoadError, load_runner
        from autotune_keras.models.timing_adjuster.inference import Retimer, lookahead_samples

        path = Path(model) if model else shipped_model("timing_adjuster")
        try:
            runner = load_runner(path)
        except ModelLoadError as error:
            hint = "; pass --baseline for classical slicing" if not model else ""
            raise FileNotFoundError(f"{error}{hint}") from None
        if contract.TimingTensors.MUSICAL_CONTEXT not in runner.inputs:
            raise ValueError(f"{path}: not a timing model (inputs: {', '.join(runner.inputs)})")
        retimed = Retimer(runner, latency_samples(path), lookahead_samples(path)).run(audio, tempo, step_beats, phase, strength, progress=True)["audio"]
    if rate != contract.SAMPLE_RATE:
        import librosa

        frames = int(round(len(audio) * rate / contract.SAMPLE_RATE))
        retimed = librosa.resample(retimed, orig_sr=contract.SAMPLE_RATE, target_sr=rate, res_type="soxr_hq")[:frames]
        retimed = np.pad(retimed, (0, frames - len(retimed)))
    audio_io.write_audio(output, retimed, rate)
    print(f"wrote {output}: {len(retimed) / rate:.1f} s at {rate} Hz, grid {grid} at {tempo:g} BPM (phase {phase:.2f} of a step)")


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.retime")


if __name__ == "__main__":
    cli()

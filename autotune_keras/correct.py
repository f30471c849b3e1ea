"""Pitch-correct a file as an engine would: 512-sample buffers through the detector, each voiced
pitch snapped to the key / scale, then the corrector.

    python -m autotune_keras.correct IN.wav OUT.wav --key C --scale MAJOR --strength 1.0 --baseline

The default corrector is the shipped ``saved_models/pitch_corrector``; ``--baseline`` runs the
classical DSP autotune (autotune_keras/baseline.py). Any input rate and
channel count; OUT is 44.1 kHz mono float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotune_keras import audio as audio_io
from autotune_keras import contract, music
from autotune_keras.cli import run
from autotune_keras.detect import DEFAULT_MODEL as DEFAULT_DETECTOR
from autotune_keras.runtime import ModelLoadError, Stream, load_runner

DEFAULT_CORRECTOR = DEFAULT_DETECTOR.parent / "pitch_corrector"


def scale_targets(pitch_hz: np.ndarray, confidence: np.ndarray, key: str, scale: str) -> np.ndarray:
    """The nearest scale note of each confident pitch; 0 (leave alone) elsewhere."""
    voiced = (np.asarray(confidence) >= contract.CONFIDENCE_THRESHOLD) & (np.asarray(pitch_hz) > 0)
    return np.where(voiced, music.quantize_hz_to_scale(np.where(voiced, pitch_hz, 0.0), key, scale), 0.0)


class NeuralCorrector:
    """The exported corrector streamed with its state; same interface as the DSP baseline."""

    def __init__(self, runner):
        self.stream = Stream(runner)

    def process(self, buffer: np.ndarray, detected_hz: float, target_hz: float, strength: float) -> np.ndarray:
        names = contract.PitchCorrectorTensors
        controls = {
            names.TARGET_PITCH: np.array([[target_hz if detected_hz > 0 else 0.0]], np.float32),
            names.CORRECTION_STRENGTH: np.array([[strength]], np.float32),
        }
        return self.stream.process(buffer, **controls)[names.CORRECTED_AUDIO]


def load_corrector(model: str | Path | None, baseline: bool):
    """The DSP baseline, or the exported corrector (default: the shipped saved_models/pitch_corrector)."""
    if baseline:
        from autotune_keras.baseline import START_DELAY, ResamplingAutotune

        return ResamplingAutotune(), START_DELAY
    path = Path(model) if model else DEFAULT_CORRECTOR
    try:
        runner = load_runner(path, name="pitch_corrector")
    except ModelLoadError as error:
        hint = "; pass --baseline for the DSP autotune" if not model else ""
        raise FileNotFoundError(f"{error}{hint}") from None
    if contract.PitchCorrectorTensors.TARGET_PITCH not in runner.inputs:
        raise ValueError(f"{path}: not a pitch corrector (inputs: {', '.join(runner.inputs)})")
    from autotune_keras.detect import model_latency

    latency = model_latency(path)
    return NeuralCorrector(runner), latency


def correct_stream(
    audio: np.ndarray, detector, corrector, latency: int, key: str, scale: str, strength: float, progress: bool = False
) -> dict:
    """Stream ``audio`` through the detector and a corrector, buffer by buffer, snapping each
    confident pitch to the scale; returns the output (start latency removed and the tail flushed,
    so it lines up with the input) and the per-buffer pitch, confidence and target."""
    from tqdm import tqdm

    names = contract.PitchDetectorTensors
    stream = Stream(detector)
    n = int(np.ceil((len(audio) + latency) / contract.BUFFER_SIZE))
    padded = np.zeros(n * contract.BUFFER_SIZE, np.float32)
    padded[: len(audio)] = audio
    out = np.empty_like(padded)
    pitch, confidence, target = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in tqdm(range(n), unit="buffer", desc="correct", disable=not progress):
        buffer = padded[i * contract.BUFFER_SIZE : (i + 1) * contract.BUFFER_SIZE]
        detected = stream.process(buffer)
        pitch[i], confidence[i] = float(detected[names.PITCH][0]), float(detected[names.CONFIDENCE][0])
        target[i] = scale_targets(pitch[i], confidence[i], key, scale)
        voiced_pitch = pitch[i] if target[i] > 0 else 0.0
        out[i * contract.BUFFER_SIZE : (i + 1) * contract.BUFFER_SIZE] = corrector.process(
            buffer, voiced_pitch, target[i], strength
        )
    return {"audio": out[latency : latency + len(audio)], "pitch": pitch, "confidence": confidence, "target": target}


def main(
    input: str,
    output: str,
    key: str = "C",
    scale: str = "MAJOR",
    strength: float = 1.0,
    baseline: bool = False,
    model: str | None = None,
    detector: str | None = None,
) -> None:
    """Pitch-correct IN to OUT (44.1 kHz mono float32 WAV).

    Args:
      input: audio file (any common format, rate and channel count).
      output: corrected WAV to write.
      key: key of the scale (C, C#, Db, ... B).
      scale: MAJOR, MINOR, BLUES, PENTATONIC, DORIAN, MIXOLYDIAN or CHROMATIC.
      strength: 0 (no change) .. 1 (exactly on the scale note).
      baseline: use the classical DSP autotune instead of the neural corrector.
      model: corrector export folder or file (default saved_models/pitch_corrector).
      detector: detector export folder or file (default the shipped saved_models/pitch_detector).
    """
    music.key_to_pitch_class(key)
    music.scale_intervals(scale)
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"--strength {strength}: must be between 0 and 1")
    corrector, latency = load_corrector(model, baseline)
    try:
        detector_runner = load_runner(Path(detector) if detector else DEFAULT_DETECTOR)
    except ModelLoadError as error:
        raise FileNotFoundError(str(error)) from None
    audio = audio_io.load_audio(input)
    result = correct_stream(audio, detector_runner, corrector, latency, key, scale, float(strength), progress=True)
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

"""Pitch correction as an engine runs it: each buffer through the detector, its confident pitch
snapped to the key and scale, then through a corrector (the exported model, or the DSP baseline),
all streamed buffer by buffer with state."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotune_keras import contract, music
from autotune_keras.dsp.baseline import DETECTED_PITCH, BaselineRunner
from autotune_keras.engine.exports import latency_samples, shipped_model
from autotune_keras.engine.runners import ModelLoadError, load_runner
from autotune_keras.engine.stream import Stream, stream

DETECTOR = contract.PitchDetectorTensors
CORRECTOR = contract.PitchCorrectorTensors


def scale_targets(
    pitch_hz: np.ndarray, confidence: np.ndarray, key: str, scale: str | music.Scale, a4: float = contract.A4_HZ
) -> np.ndarray:
    """The nearest scale note of each confident pitch (at reference tuning ``a4``); 0 (leave
    alone) elsewhere."""
    voiced = (np.asarray(confidence) >= contract.CONFIDENCE_THRESHOLD) & (np.asarray(pitch_hz) > 0)
    return np.where(voiced, music.quantize_hz_to_scale(np.where(voiced, pitch_hz, 0.0), key, scale, a4), 0.0)


def next_target(
    previous: float, pitch_hz: float, confidence: float, key: str, scale: str | music.Scale, a4: float = contract.A4_HZ
) -> float:
    """One buffer's target: the scale note of a confident pitch; else the ``previous`` target held
    while the confidence stays >= contract.HOLD_CONFIDENCE (a fading note keeps its correction);
    else 0."""
    target = float(scale_targets(pitch_hz, confidence, key, scale, a4))
    if target == 0.0 and previous > 0.0 and confidence >= contract.HOLD_CONFIDENCE:
        return float(previous)
    return target


def load_corrector(model: str | Path | None = None, baseline: bool = False):
    """(runner, latency in samples): the DSP baseline, or an exported corrector (default: the
    shipped saved_models/pitch_corrector)."""
    if baseline:
        runner = BaselineRunner()
        return runner, runner.latency_samples
    path = Path(model) if model else shipped_model("pitch_corrector")
    try:
        runner = load_runner(path)
    except ModelLoadError as error:
        hint = "; pass --baseline for the DSP autotune" if not model else ""
        raise FileNotFoundError(f"{error}{hint}") from None
    if CORRECTOR.TARGET_PITCH not in runner.inputs:
        raise ValueError(f"{path}: not a pitch corrector (inputs: {', '.join(runner.inputs)})")
    return runner, latency_samples(path)


def load_detector(model: str | Path | None = None):
    """An exported pitch detector (default: the shipped saved_models/pitch_detector)."""
    try:
        return load_runner(Path(model) if model else shipped_model("pitch_detector"))
    except ModelLoadError as error:
        raise FileNotFoundError(str(error)) from None


class Autotune:
    """Detector, scale snapping and a corrector, streamed together buffer by buffer."""

    def __init__(self, detector, corrector, latency: int, smoother=None):
        self.detector, self.corrector, self.latency = detector, corrector, latency
        self.smoother = smoother  # an engine.smoothing.CausalSmoother, or None

    def run(
        self,
        audio: np.ndarray,
        key: str,
        scale: str | music.Scale,
        strength: float,
        progress: bool = False,
        a4: float = contract.A4_HZ,
    ) -> dict:
        """Correct ``audio`` towards ``key`` / ``scale`` (any Scale; reference tuning ``a4``);
        returns the output (start latency removed and the tail flushed, so it lines up with the
        input) and the per-buffer pitch, confidence and target."""
        scale = music.parse_scale(scale)
        detector = Stream(self.detector)
        if self.smoother is not None:
            self.smoother.reset()
        corrector = Stream(self.corrector)
        size = corrector.buffer_size
        n = int(np.ceil((len(audio) + self.latency) / size))
        padded = np.zeros(n * size, np.float32)
        padded[: len(audio)] = audio
        pitch, confidence, target = np.zeros(n), np.zeros(n), np.zeros(n)
        takes_detection = DETECTED_PITCH in self.corrector.inputs
        detected = [0.0]  # the pitch fed to a corrector that takes the detection

        def controls(i: int, buffer: np.ndarray) -> dict[str, np.ndarray]:
            found = detector.process(buffer)
            pitch[i], confidence[i] = float(found[DETECTOR.PITCH][0]), float(found[DETECTOR.CONFIDENCE][0])
            if self.smoother is not None:
                pitch[i], confidence[i] = self.smoother.step(pitch[i], confidence[i])
            target[i] = next_target(target[i - 1] if i else 0.0, pitch[i], confidence[i], key, scale, a4)
            feeds = {
                CORRECTOR.TARGET_PITCH: np.array([[target[i]]], np.float32),
                CORRECTOR.CORRECTION_STRENGTH: np.array([[strength]], np.float32),
            }
            if takes_detection:  # while a note is held, its last confident pitch (as the model keeps its ratio)
                confident = confidence[i] >= contract.CONFIDENCE_THRESHOLD
                detected[0] = (pitch[i] if confident else detected[0]) if target[i] > 0 else 0.0
                feeds[DETECTED_PITCH] = np.array([[detected[0]]], np.float32)
            return feeds

        detector.reset()
        result = stream(corrector, padded, controls, progress="correct" if progress else None)
        out = result.outputs[CORRECTOR.CORRECTED_AUDIO].reshape(-1)
        return {"audio": out[self.latency : self.latency + len(audio)], "pitch": pitch, "confidence": confidence, "target": target}

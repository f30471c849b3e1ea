"""Retiming a whole signal as an engine would: 2048-sample sequences through the timing model,
each with the grid's phase at its first sample, and the model's latency taken back out so the
output lines up with the input."""

from __future__ import annotations

import numpy as np

from autotune_keras import contract
from autotune_keras.engine.stream import stream

NAMES = contract.TimingTensors
CUT_IN_RMS = 1e-3  # a signal whose first 10 ms are louder than this (-60 dBFS) starts mid-note


def grid_step_samples(tempo: float, step_beats: float) -> float:
    """Samples between grid lines."""
    return 60.0 / tempo * step_beats * contract.SAMPLE_RATE


def estimate_phase(audio: np.ndarray, tempo: float, step_beats: float) -> float:
    """The grid's phase at the first sample (in steps, 0..1) that best fits the audio's onsets:
    the circular mean of their positions between grid lines, weighted by their strength."""
    import librosa

    envelope = librosa.onset.onset_strength(y=np.asarray(audio, np.float32), sr=contract.SAMPLE_RATE, hop_length=64)
    peaks = librosa.onset.onset_detect(onset_envelope=envelope, sr=contract.SAMPLE_RATE, hop_length=64, units="frames")
    if len(peaks) == 0:
        return 0.0
    where = peaks * 64 / grid_step_samples(tempo, step_beats)
    angle = np.angle(np.sum(envelope[peaks] * np.exp(2j * np.pi * where)))
    return float((-angle / (2 * np.pi)) % 1.0)


def lookahead_samples(model) -> int:
    """The onset network's look-ahead from the export report beside ``model`` (0 when absent)."""
    from autotune_keras.engine.exports import export_report

    report = export_report(model)
    return int((report or {}).get("config", {}).get("lookahead", 0))


class Retimer:
    """A timing model streamed over whole signals."""

    def __init__(self, runner, latency: int, lookahead: int = 0):
        self.runner, self.latency, self.lookahead = runner, int(latency), int(lookahead)

    def run(self, audio: np.ndarray, tempo: float, step_beats: float, phase: float, strength: float = 1.0,
            progress: bool = False) -> dict:  # fmt: skip
        """Move ``audio``'s onsets towards the grid (``tempo`` BPM, a line every ``step_beats``
        beats, ``phase`` steps after the first sample); returns the output (as long as the input,
        latency removed) and the per-call timing confidence.

        A signal that starts mid-note (sound in its first 10 ms) is streamed with strength 0 in
        the call whose onset network analyses the first sample (the first call, or a later one
        with a ``lookahead`` of a sequence or more; the calls before hear only silence): the jump
        from silence the model hears there is where the file was cut, not a note played off the
        grid, so it is not moved (nor is a note starting in the same 2048 samples)."""
        sequence = self.runner.signature.buffer_size
        step = grid_step_samples(tempo, step_beats)
        tempo_feed = np.array([[tempo]], np.float32)
        head = np.asarray(audio[: contract.SAMPLE_RATE // 100], np.float64)
        cut_in = len(head) > 0 and float(np.sqrt(np.mean(head**2))) > CUT_IN_RMS

        def controls(i: int, _buffer: np.ndarray) -> dict[str, np.ndarray]:
            at = (phase + i * sequence / step) % 1.0
            force = 0.0 if (cut_in and i * sequence <= self.lookahead) else strength
            return {NAMES.TARGET_TEMPO: tempo_feed, NAMES.MUSICAL_CONTEXT: np.array([[step_beats, at, force]], np.float32)}

        padded = np.concatenate([np.asarray(audio, np.float32), np.zeros(self.latency + sequence, np.float32)])
        result = stream(self.runner, padded, controls, progress="retime" if progress else None)
        out = result.outputs[NAMES.ADJUSTED_AUDIO].reshape(-1)
        return {"audio": out[self.latency : self.latency + len(audio)], "confidence": result.outputs[NAMES.TIMING_CONFIDENCE].reshape(-1)}

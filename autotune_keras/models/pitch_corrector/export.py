"""The pitch corrector's export: parity batch with random state and controls, tolerances, the
streamed checks (a detuned tone at strength 1 and 0) and the header notes."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from autotune_keras import contract
from autotune_keras.config import to_dict
from autotune_keras.engine.runners import TFLiteRunner
from autotune_keras.engine.stream import stream
from autotune_keras.export.spec import ExportSpec, parity_windows
from autotune_keras.models.pitch_corrector.run import CorrectorRun
from autotune_keras.models.pitch_corrector.streaming import StreamingCorrector

NAMES = contract.PitchCorrectorTensors
STATE_OUT = contract.state_output(NAMES.AUDIO_STATE)
TONE_BUFFERS = 40


def _tone() -> np.ndarray:
    """A 228 Hz tone with its octave: 20 cents off the 220 Hz target of the streamed check."""
    t = np.arange(TONE_BUFFERS * contract.BUFFER_SIZE) / contract.SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 228.0 * t) + 0.1 * np.sin(2 * np.pi * 456.0 * t)).astype(np.float32)


def _controls(strength: float) -> dict[str, np.ndarray]:
    return {NAMES.TARGET_PITCH: np.array([[220.0]], np.float32), NAMES.CORRECTION_STRENGTH: np.array([[strength]], np.float32)}


def export_spec(run: CorrectorRun) -> ExportSpec:
    """The detector network inside the streaming resampling core, with the run's learned taps."""
    cfg, detector = run.config, run.detector
    detector_cfg = detector.experiment.model

    def module(network) -> StreamingCorrector:
        taps = None if run.taps is None else tf.Variable(run.taps, name="envelope_taps")
        return StreamingCorrector(network, detector_cfg, cfg, envelope_taps=taps, calibration=detector.calibration)

    float_module = module(detector.float_net)
    windows = parity_windows(detector.experiment.pipeline, cfg.history_samples + contract.BUFFER_SIZE)
    rng = np.random.default_rng(0)
    count = len(windows)
    feeds = {
        NAMES.AUDIO_BUFFER: windows[:, cfg.history_samples :],
        NAMES.TARGET_PITCH: (110.0 * 2 ** (rng.integers(0, 36, (count, 1)) / 12)).astype(np.float32),
        NAMES.CORRECTION_STRENGTH: rng.uniform(0, 1, (count, 1)).astype(np.float32),
        NAMES.AUDIO_STATE: windows[:, : cfg.history_samples],
        NAMES.READ_OFFSET: rng.uniform(-cfg.unvoiced_period, 600, (count, 1)).astype(np.float32),
        NAMES.LOG2_RATIO: rng.uniform(-0.1, 0.1, (count, 1)).astype(np.float32),
    }

    def passthrough_check(files):
        """Strength 0 must reproduce the input exactly, delayed by the start delay."""
        tone = _tone()
        runner = TFLiteRunner(files["tflite_float"])
        runner.signature = contract.PITCH_CORRECTOR
        out = stream(runner, tone, _controls(0.0)).outputs[NAMES.CORRECTED_AUDIO].reshape(-1)
        error = np.max(np.abs(out[cfg.start_delay :] - tone[: len(tone) - cfg.start_delay]))
        return {"strength_0_vs_delayed_input_max_abs": float(error)}, {"strength_0_vs_delayed_input_max_abs": 1e-6}

    return ExportSpec(
        signature=contract.PITCH_CORRECTOR,
        float_module=float_module,
        int8_module=module(detector.qat_net or detector.float_net),
        feeds=feeds,
        float_tolerance={"corrected_audio_max_abs": 1e-3, "confidence_max_abs": 1e-4, f"{STATE_OUT}_max_abs": 0.0},
        int8_tolerance={"confidence_max_abs": 0.15, f"{STATE_OUT}_max_abs": 0.0},
        notes=[
            "State: feed every `X_out` back as `X` on the next buffer; start a stream with zeros.",
            f"`{NAMES.AUDIO_STATE}`: the last {cfg.history_samples} input samples; `{NAMES.READ_OFFSET}`: read head delay minus the start delay;",
            f"`{NAMES.LOG2_RATIO}`: pitch ratio reached at the end of the last buffer, in octaves.",
            f"Latency: {cfg.start_delay} samples while passing audio through (strength 0, unvoiced); while correcting",
            f"the delay moves by whole periods between {cfg.min_delay} and {cfg.min_delay} + 2 periods + a buffer.",
            "target_pitch: Hz (0 or unvoiced input: no correction); correction_strength: 0..1.",
            f"Hold: keep sending a note's target while the detector's confidence stays >= {contract.HOLD_CONFIDENCE:g} after a",
            f"confident (>= {contract.CONFIDENCE_THRESHOLD:g}) detection; the model then keeps the ratio it reached.",
        ],
        latency_samples=cfg.start_delay,
        int8_from_qat=detector.qat_net is not None,
        checkpoint=str(run.path),
        streaming_audio=_tone(),
        streaming_controls={"strength_1": _controls(1.0), "strength_0": _controls(0.0)},
        streaming_tolerance={"strength_1_corrected_audio_max_abs": 1e-3, "strength_0_corrected_audio_max_abs": 1e-5},
        extra_checks={"tflite_float_streaming": passthrough_check},
        report={
            "parameters": int(detector.float_net.count_params()) + cfg.envelope_taps,
            "detector_config": to_dict(detector_cfg),
            "config": to_dict(cfg),
            "corrector_run": str(run.path) if run.taps is not None else None,
        },
    )

"""The pitch detector's export: parity batch, tolerances, streaming check and header notes."""

from __future__ import annotations

import numpy as np

from autotune_keras import contract
from autotune_keras.config import to_dict
from autotune_keras.export.spec import ExportSpec, dataset_windows, parity_windows
from autotune_keras.models.pitch_detector.network import DetectorConfig, octave_state_size
from autotune_keras.models.pitch_detector.run import DetectorRun
from autotune_keras.models.pitch_detector.streaming import StreamingDetector

NAMES = contract.PitchDetectorTensors
STATE_OUT = contract.state_output(NAMES.AUDIO_STATE)
OCTAVE_OUT = contract.state_output(NAMES.OCTAVE_STATE)
# Stated tolerances: float formats against the float Keras model; INT8 against the QAT model.
FLOAT_TOLERANCE = {"pitch_cents_p95": 1.0, "confidence_max_abs": 1e-4, "harmonics_max_abs": 1e-4, f"{STATE_OUT}_max_abs": 0.0}
INT8_TOLERANCE = {
    "pitch_cents_median": 10.0,
    "pitch_within_50_cents_min": 0.95,
    "confidence_max_abs": 0.15,
    "harmonics_max_abs": 0.25,
    f"{STATE_OUT}_max_abs": 0.0,
}
STREAMING_TOLERANCE = {"pitch_cents_p95": 1.0, "confidence_max_abs": 1e-4}


def _split(windows: np.ndarray, cfg: DetectorConfig) -> dict[str, np.ndarray]:
    """Windows as independent stream starts: buffer, audio state, zero octave state."""
    context = cfg.context_samples
    octave = np.zeros((len(windows), octave_state_size(cfg)), np.float32)
    return {NAMES.AUDIO_BUFFER: windows[:, context:], NAMES.AUDIO_STATE: windows[:, :context], NAMES.OCTAVE_STATE: octave}


def export_spec(run: DetectorRun) -> ExportSpec:
    """The pitch detector's export: inputs, parity batch, tolerances, streaming check, notes."""
    exp, cfg = run.experiment, run.experiment.model
    windows = parity_windows(exp.pipeline, cfg.window_samples)
    representative = []
    if run.qat_net is None:  # post-training quantization: calibrate on augmented training windows
        calibration = dataset_windows(exp.pipeline, "train", 256, cfg.window_samples, training=True)
        representative = [_split(w[None, :], cfg) for w in calibration]
    return ExportSpec(
        signature=contract.PITCH_DETECTOR,
        float_module=StreamingDetector(run.float_net, cfg, run.calibration),
        int8_module=StreamingDetector(run.qat_net or run.float_net, cfg, run.calibration),
        feeds=_split(windows, cfg),
        float_tolerance=FLOAT_TOLERANCE,
        int8_tolerance=INT8_TOLERANCE,
        notes=[
            f"State: feed `{STATE_OUT}` back as `{NAMES.AUDIO_STATE}` on the next buffer;",
            f"start a stream with zeros. The state is the last {cfg.context_samples} input samples (float32).",
            f"Feed `{OCTAVE_OUT}` back as `{NAMES.OCTAVE_STATE}` too (zeros at stream start): the last confident pitch,",
            f"how many buffers it has held and how many were read an octave away; after {cfg.octave_hold_buffers} held buffers",
            f"an octave jump is folded back until it lasts {cfg.octave_hold_max_buffers} buffers; buffers at confidence",
            f">= {cfg.octave_hold_keep_confidence:g} keep the held note, lower ones end it."
            + (
                f" After those three values the octave state carries the octave filter's belief over the {cfg.n_bins}"
                f" pitch bins ({cfg.cents_per_bin:g}-cent bins from {contract.PITCH_MIN_HZ:g} Hz): it picks each reading's octave; a buffer"
                f" below confidence {cfg.octave_filter_reset_confidence:g} clears it."
                if cfg.octave_filter_radius_bins > 0
                else ""
            ),
            f"Latency: the outputs describe the centre of the buffer {cfg.lookahead_buffers} buffer(s) back: {cfg.latency_samples} samples.",
            "Files: *_int8.tflite (INT8 network, float I/O), *_float.tflite, *.onnx and saved_model/ (float, dynamic batch).",
        ],
        latency_samples=cfg.latency_samples,
        int8_from_qat=run.qat_net is not None,
        checkpoint=str(run.path),
        representative=representative,
        streaming_audio=np.concatenate(windows[:3]),
        streaming_tolerance=STREAMING_TOLERANCE,
        report={
            "parameters": int(run.float_net.count_params()),
            "window_samples": cfg.window_samples,
            "context_samples": cfg.context_samples,
            "n_harmonics": cfg.n_harmonics,
            "pitch_bins": cfg.n_bins,
            "confidence_calibration": {"a": run.calibration[0], "b": run.calibration[1]},
            "config": to_dict(cfg),
        },
    )

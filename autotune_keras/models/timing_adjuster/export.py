"""The timing model's export: parity batch with live state, tolerances, a streamed check and the
header notes (latency, context layout)."""

from __future__ import annotations

import numpy as np

from autotune_keras import contract
from autotune_keras.config import to_dict
from autotune_keras.export.spec import ExportSpec, parity_windows
from autotune_keras.models.timing_adjuster.network import band_power
from autotune_keras.models.timing_adjuster.run import TimingRun
from autotune_keras.models.timing_adjuster.streaming import SLOTS, StreamingTimingAdjuster

NAMES = contract.TimingTensors


OFF_GRID_SECONDS = (0.02, -0.015, 0.0, 0.03, -0.025, 0.01)


def _clicks(seconds: float = 2.0) -> np.ndarray:
    """Decaying tones played off a 120 BPM 8th-note grid (every 0.25 s from 0.3 s): something to move."""
    sr = contract.SAMPLE_RATE
    out = np.zeros(int(seconds * sr), np.float32)
    t = np.arange(int(0.2 * sr)) / sr
    for i, line in enumerate(np.arange(0.3, seconds - 0.3, 0.25)):
        start = int((line + OFF_GRID_SECONDS[i % len(OFF_GRID_SECONDS)]) * sr)
        note = (np.sin(2 * np.pi * 220 * 2 ** ((i % 4) / 12) * t) * np.exp(-6 * t)).astype(np.float32)
        out[start : start + len(note)] += 0.3 * note
    return out


def export_spec(run: TimingRun) -> ExportSpec:
    """The onset network inside the streaming time-warp."""
    cfg, exp = run.experiment.model, run.experiment
    rng = np.random.default_rng(0)
    windows = parity_windows(exp.pipeline, cfg.history_samples + cfg.sequence, count=48)
    count = len(windows)
    heard = windows[:, cfg.history_samples - cfg.preroll - (cfg.frames - cfg.new_frames) * cfg.hop : cfg.history_samples]
    feeds = {
        NAMES.AUDIO_SEQUENCE: windows[:, cfg.history_samples :],
        NAMES.TARGET_TEMPO: rng.uniform(60, 200, (count, 1)).astype(np.float32),
        NAMES.MUSICAL_CONTEXT: np.stack(
            [rng.choice(list(contract.GRIDS.values()), count), rng.uniform(0, 1, count), rng.uniform(0, 1, count)], axis=1
        ).astype(np.float32),
        NAMES.AUDIO_STATE: windows[:, : cfg.history_samples],
        NAMES.READ_DELAY: rng.integers(-cfg.max_shift // 2, cfg.max_shift // 2, (count, 1)).astype(np.float32),
        NAMES.ONSET_POSITIONS: -rng.uniform(cfg.min_delay, cfg.max_delay, (count, SLOTS)).astype(np.float32),
        NAMES.ONSET_SHIFTS: rng.uniform(-cfg.max_shift, cfg.max_shift, (count, SLOTS)).astype(np.float32),
        NAMES.ONSET_CONFIDENCES: (rng.uniform(0, 1, (count, SLOTS)) * (rng.random((count, SLOTS)) < 0.3)).astype(np.float32),
        NAMES.SINCE_ONSET: rng.uniform(0, 8000, (count, 1)).astype(np.float32),
        NAMES.BAND_ENERGIES: band_power(heard, cfg).numpy(),  # as the previous calls left them
    }
    float_module = StreamingTimingAdjuster(run.float_net, cfg)
    notes = [
        f"State: feed every `X_out` back as `X` on the next call; start a stream with zeros. Call it every {cfg.sequence} samples.",
        f"musical_context = [{', '.join(contract.TIMING_CONTEXT)}]: grid step in beats (1/4 note = 1, 1/8 = 0.5, 1/16 = 0.25, 1/8T = 1/3),",
        "the grid's phase at the sequence's first sample in grid steps (0..1), strength 0..1. target_tempo: BPM.",
        f"Latency: {cfg.latency_samples} samples ({cfg.latency_samples / contract.SAMPLE_RATE * 1e3:.0f} ms) for audio that is not moved; a note moves by up to",
        f"{cfg.max_shift} samples either way. timing_confidence: the onset detection behind the notes read in this call (0: none).",
    ]
    return ExportSpec(
        signature=contract.TIMING_ADJUSTER,
        float_module=float_module,
        int8_module=StreamingTimingAdjuster(run.qat_net or run.float_net, cfg),
        feeds=feeds,
        float_tolerance={"adjusted_audio_max_abs": 1e-3, f"{contract.state_output(NAMES.AUDIO_STATE)}_max_abs": 0.0},
        int8_tolerance={f"{contract.state_output(NAMES.AUDIO_STATE)}_max_abs": 0.0},
        notes=notes,
        latency_samples=cfg.latency_samples,
        int8_from_qat=run.qat_net is not None,
        checkpoint=str(run.path),
        streaming_audio=_clicks(),
        streaming_controls={"": {NAMES.TARGET_TEMPO: np.array([[120.0]], np.float32), NAMES.MUSICAL_CONTEXT: np.array([[0.5, 0.2, 1.0]], np.float32)}},
        streaming_tolerance={"adjusted_audio_max_abs": 1e-3},
        report={
            "parameters": int(run.float_net.count_params()),
            "context": list(contract.TIMING_CONTEXT),
            "max_shift_samples": cfg.max_shift,
            "config": to_dict(cfg),
        },
    )

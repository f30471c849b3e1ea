"""The pitch corrector: streaming graph behaviour, export with parity, the shipped model and the
correct CLI on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from conftest import harmonic_tone

from autotune_keras import contract, music
from autotune_keras.engine.runners import load_runner
from autotune_keras.engine.stream import stream
from autotune_keras.evaluation.audio_metrics import edge_jumps, pyin_pitch
from autotune_keras.models.pitch_corrector.core import CorrectorConfig
from autotune_keras.models.pitch_corrector.streaming import StreamingCorrector
from autotune_keras.models.pitch_detector import network as detector
from autotune_keras.models.pitch_detector.training import DetectorExperiment
from autotune_keras.training import load_experiment

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "saved_models" / "pitch_corrector"
NAMES = contract.PitchCorrectorTensors
SR = contract.SAMPLE_RATE


def _inharmonic_tone(f0: float, stretch: float, partials: range, n: int = 2560) -> np.ndarray:
    """Partials k * f0 * sqrt(1 + stretch * k^2) (a piano string's inharmonicity), random phases."""
    t = np.arange(n) / SR
    rng = np.random.default_rng(0)
    return sum(np.sin(2 * np.pi * k * f0 * np.sqrt(1 + stretch * k * k) * t + rng.uniform(0, 2 * np.pi)) / k**0.7 for k in partials).astype(np.float32)


@pytest.mark.parametrize("f0", [110.0, 440.0, 1000.0])
def test_period_refinement_corrects_the_detector_and_is_not_pulled_sharp_by_inharmonic_partials(f0):
    from autotune_keras.models.pitch_corrector.core import refine_period

    detected = tf.constant([[SR / f0 * 2 ** (7 / 1200)]], tf.float32)  # the detector 7 cents flat
    centre = tf.constant([[1800.0]])

    def refined_cents(audio: np.ndarray) -> float:
        return float(1200 * np.log2(SR / f0 / refine_period(tf.constant(audio[None]), centre, detected).numpy()[0, 0]))

    assert abs(refined_cents(_inharmonic_tone(f0, 0.0, range(1, 12)))) < 1.0  # harmonic: both readings agree
    assert abs(refined_cents(_inharmonic_tone(f0, 0.0, range(3, 9)))) < 1.0  # no fundamental: still periodic
    # a piano's partials (up to 1.7 semitones sharp) pull the whole-waveform reading sharp; the
    # readings disagree and the detector's period stands rather than a sharp one
    assert -7.5 < refined_cents(_inharmonic_tone(f0, 1e-3, range(1, 12))) < 1.0
    noise = np.random.default_rng(1).normal(0, 0.3, 2560).astype(np.float32)  # nothing periodic: keep the detector's
    assert refine_period(tf.constant(noise[None]), centre, detected).numpy()[0, 0] == pytest.approx(float(detected[0, 0]))


def _stream(runner, audio: np.ndarray, target: float, strength: float) -> np.ndarray:
    controls = {
        NAMES.TARGET_PITCH: np.array([[target]], np.float32),
        NAMES.CORRECTION_STRENGTH: np.array([[strength]], np.float32),
    }
    return stream(runner, audio, controls).outputs[NAMES.CORRECTED_AUDIO].reshape(-1)


def _median_cents(audio: np.ndarray, reference_hz: float) -> float:
    _, f0 = pyin_pitch(audio[SR // 4 :])
    return float(music.cents_between(np.median(f0[f0 > 0]), reference_hz))


@pytest.mark.parametrize("refine", [True, False])
def test_strength_zero_is_the_input_delayed_bit_for_bit(tiny_run, refine):
    exp = load_experiment(DetectorExperiment, tiny_run / "config.yaml")
    cfg = CorrectorConfig(refine_period=refine)
    taps = tf.Variable(np.random.default_rng(0).normal(0, 0.3, cfg.envelope_taps).astype(np.float32))
    module = StreamingCorrector(detector.build_network(exp.model), exp.model, cfg, envelope_taps=taps)  # nonzero FIR
    audio = harmonic_tone(233.0, 0.5)[: 40 * contract.BUFFER_SIZE]
    state = {
        "audio_state": np.zeros((1, cfg.history_samples), np.float32),
        "read_offset": np.zeros((1, 1), np.float32),
        "log2_ratio": np.zeros((1, 1), np.float32),
    }
    out = []
    for buffer in audio.reshape(-1, contract.BUFFER_SIZE):
        result = module(
            tf.constant(buffer[None]),
            tf.constant([[220.0]]),
            tf.constant([[0.0]]),
            **{k: tf.constant(v) for k, v in state.items()},
        )
        state = {k: result[k + "_out"].numpy() for k in state}
        out.append(result[NAMES.CORRECTED_AUDIO].numpy()[0])
    out = np.concatenate(out)
    np.testing.assert_array_equal(out[cfg.start_delay :], audio[: len(audio) - cfg.start_delay])


def test_a_correction_in_progress_holds_its_ratio_while_the_detection_fades(tiny_run):
    exp = load_experiment(DetectorExperiment, tiny_run / "config.yaml")
    cfg = CorrectorConfig()
    # calibration (1, -100): confidence ~0 whatever the audio, i.e. the detection has faded
    module = StreamingCorrector(detector.build_network(exp.model), exp.model, calibration=(1.0, -100.0))
    tone = harmonic_tone(227.0, 0.3)[: 8 * contract.BUFFER_SIZE].reshape(-1, contract.BUFFER_SIZE)

    def run(target: float, log2_ratio: float) -> tuple[list[float], np.ndarray]:
        state = {
            "audio_state": np.zeros((1, cfg.history_samples), np.float32),
            "read_offset": np.zeros((1, 1), np.float32),
            "log2_ratio": np.full((1, 1), log2_ratio, np.float32),
        }
        ratios, out = [], []
        for buffer in tone:
            result = module(tf.constant(buffer[None]), tf.constant([[target]]), tf.constant([[1.0]]),
                            **{k: tf.constant(v) for k, v in state.items()})  # fmt: skip
            state = {k: result[k + "_out"].numpy() for k in state}
            ratios.append(float(state["log2_ratio"][0, 0]))
            out.append(result[NAMES.CORRECTED_AUDIO].numpy()[0])
        return ratios, np.concatenate(out)

    held, audio = run(220.0, -0.05)  # the engine still sends the note: the ratio stays
    assert held == pytest.approx([-0.05] * len(tone), abs=1e-6)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) < 2.0
    released, _ = run(0.0, -0.05)  # no target: back to ratio 1 within a buffer
    assert released == pytest.approx([0.0] * len(tone), abs=1e-6)
    idle, _ = run(220.0, 0.0)  # nothing in progress: an unconfident detection starts nothing
    assert idle == pytest.approx([0.0] * len(tone), abs=1e-6)


def test_the_engine_holds_a_target_while_its_detection_fades():
    from autotune_keras.models.pitch_corrector.inference import next_target

    targets, previous = [], 0.0
    for confidence in (0.5, 0.9, 0.9, 0.6, 0.4, contract.HOLD_CONFIDENCE, 0.1, 0.5):
        previous = next_target(previous, 223.0, confidence, "A", "CHROMATIC")
        targets.append(round(previous, 2))
    # nothing before a confident detection; held down to HOLD_CONFIDENCE; released below; an
    # unconfident detection after the release starts nothing
    assert targets == [0.0, 220.0, 220.0, 220.0, 220.0, 220.0, 0.0, 0.0]


def test_corrector_export_names_state_and_parity(tiny_corrector):
    report = json.loads((tiny_corrector / "export_report.json").read_text())
    assert report["model"] == "pitch_corrector"
    assert report["state"] == {"audio_state": "audio_state_out", "read_offset": "read_offset_out", "log2_ratio": "log2_ratio_out"}
    assert report["parity"]["tflite_float_streaming"]["strength_0_vs_delayed_input_max_abs"] == 0.0
    assert report["latency_samples"] == CorrectorConfig().start_delay
    for path in ("pitch_corrector_int8.tflite", "pitch_corrector_float.tflite", "pitch_corrector.onnx", "saved_model"):
        runner = load_runner(tiny_corrector / path)
        assert set(runner.inputs) == {*NAMES.INPUTS, "audio_state", "read_offset", "log2_ratio"}, path
        assert set(runner.outputs) == {*NAMES.OUTPUTS, "audio_state_out", "read_offset_out", "log2_ratio_out"}, path
    ops = report["ops"]["tflite_int8"]
    assert {"CONV_2D", "FULLY_CONNECTED", "QUANTIZE", "CUMSUM", "GATHER"} <= set(ops)
    assert not any(op.startswith("FLEX") or op == "CUSTOM" for op in ops)
    header = (tiny_corrector / "pitch_corrector.h").read_text()
    assert 'TensorInfo{"read_offset", DType::kFloat32, 2, {1, 1, 0, 0}, 0.0f, 0, "read_offset_out"' in header


def test_onnx_corrector_takes_any_batch(tiny_corrector):
    runner = load_runner(tiny_corrector / "pitch_corrector.onnx")
    b = 3
    out = runner(
        {
            NAMES.AUDIO_BUFFER: np.zeros((b, 512), np.float32), NAMES.TARGET_PITCH: np.full((b, 1), 220.0, np.float32),
            NAMES.CORRECTION_STRENGTH: np.ones((b, 1), np.float32), "audio_state": np.zeros((b, 2048), np.float32),
            "read_offset": np.zeros((b, 1), np.float32), "log2_ratio": np.zeros((b, 1), np.float32),
        }
    )  # fmt: skip
    assert out[NAMES.CORRECTED_AUDIO].shape == (b, 512) and out["audio_state_out"].shape == (b, 2048)


@pytest.mark.parametrize(("source", "target"), [(227.0, 220.0), (330.0, 349.23), (150.0, 146.83)])
def test_shipped_corrector_puts_a_tone_on_target_without_clicks(source, target):
    runner = load_runner(SHIPPED)  # the INT8 TFLite
    tone = harmonic_tone(source, 1.5)[: 129 * contract.BUFFER_SIZE]
    out = _stream(runner, tone, target, 1.0)
    assert abs(_median_cents(out, target)) < 10.0
    at_edges, inside = edge_jumps(out)
    assert at_edges <= inside * 1.01
    halfway = _stream(runner, tone, target, 0.5)
    assert abs(_median_cents(halfway, float(music.blend_pitch(source, target, 0.5)))) < 10.0


def test_shipped_corrector_files_match_their_header():
    report = json.loads((SHIPPED / "export_report.json").read_text())
    header = (SHIPPED / "pitch_corrector.h").read_text()
    for name in report["inputs"] + report["outputs"]:
        assert f'TensorInfo{{"{name}"' in header
    assert f"constexpr int kLatencySamples = {report['latency_samples']};" in header
    assert sum(report["sizes_bytes"].values()) < 5_000_000 and report["sizes_bytes"]["tflite_int8"] < 1_000_000


def test_correct_cli_uses_the_shipped_corrector(tmp_path):
    source = tmp_path / "take.flac"
    sf.write(source, harmonic_tone(196.0 * 2 ** (40 / 1200), 1.5, 32000), 32000)  # G3 + 40 cents
    out = tmp_path / "fixed.wav"
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.correct", str(source), str(out), "--key", "G", "--scale", "MAJOR"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(out, dtype="float32")
    assert rate == SR and abs(len(audio) - 1.5 * SR) < 2
    assert abs(_median_cents(audio, 196.0)) < 10.0


def test_envelope_fir_is_a_centred_correlation_and_vanishes_with_zero_taps(tiny_run):
    exp = load_experiment(DetectorExperiment, tiny_run / "config.yaml")
    cfg = CorrectorConfig()
    taps = np.random.default_rng(1).normal(size=cfg.envelope_taps).astype(np.float32)
    module = StreamingCorrector(detector.build_network(exp.model), exp.model, envelope_taps=tf.Variable(taps))
    window = np.random.default_rng(2).normal(size=(2, 2560)).astype(np.float32)
    expected = np.stack([np.correlate(np.pad(row, cfg.envelope_taps // 2), taps, mode="valid") for row in window])
    np.testing.assert_allclose(module.envelope_residual(tf.constant(window)).numpy(), expected, atol=1e-4)
    plain = StreamingCorrector(detector.build_network(exp.model), exp.model)
    assert not np.any(plain.envelope_residual(tf.constant(window)).numpy())
    with pytest.raises(ValueError, match="envelope_taps: expected shape"):
        StreamingCorrector(detector.build_network(exp.model), exp.model, envelope_taps=tf.Variable(taps[:3]))


def test_a_detector_run_exports_as_a_corrector_with_zero_taps(tiny_run, tmp_path):
    from autotune_keras.export.pipeline import export

    report = export(tiny_run, tmp_path / "corrector", model="pitch_corrector")
    assert report["model"] == "pitch_corrector" and report["corrector_run"] is None
    exported = tf.train.load_variable(
        str(tmp_path / "corrector" / "saved_model" / "variables" / "variables"), "envelope_taps/.ATTRIBUTES/VARIABLE_VALUE"
    )
    assert exported.shape == (CorrectorConfig().envelope_taps,) and not exported.any()
    assert report["parity"]["tflite_float_streaming"]["strength_0_vs_delayed_input_max_abs"] == 0.0

"""The detector chain on a tiny run: train -> QAT -> export -> parity -> header -> detect / benchmark."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from conftest import harmonic_tone

from autotune_keras import contract
from autotune_keras.engine.runners import load_runner
from autotune_keras.engine.stream import Stream
from autotune_keras.evaluation.clips import buffer_windows
from autotune_keras.export.pipeline import export
from autotune_keras.models.pitch_detector import network as detector
from autotune_keras.models.pitch_detector.streaming import StreamingDetector

ROOT = Path(__file__).resolve().parent.parent
NAMES = contract.PitchDetectorTensors


def test_training_writes_weights_logs_and_contour_images(tiny_run):
    assert (tiny_run / "float.weights.h5").is_file() and (tiny_run / "qat.weights.h5").is_file()
    history = (tiny_run / "float-history.csv").read_text().splitlines()
    assert "val_rpa_50" in history[0] and len(history) == 2
    events = list((tiny_run / "logs").rglob("events.out.tfevents.*"))
    tags = {
        value.tag for path in events for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value
    }
    assert "pitch_contours" in tags
    assert any("rpa_50" in tag for tag in tags)


def test_streaming_model_equals_sliding_windows():
    cfg = detector.DetectorConfig()
    module = StreamingDetector(detector.build_network(cfg), cfg)
    audio = harmonic_tone(220.0, 0.2)
    windows = buffer_windows(audio, cfg.context_samples)
    state, octave = np.zeros((1, cfg.context_samples), np.float32), np.zeros((1, detector.octave_state_size(cfg)), np.float32)
    for i, window in enumerate(windows):
        out = module(tf.constant(audio[None, i * 512 : (i + 1) * 512]), tf.constant(state), tf.constant(octave))
        np.testing.assert_array_equal(tf.concat([state, audio[None, i * 512 : (i + 1) * 512]], 1).numpy(), window[None])
        state, octave = out["audio_state_out"].numpy(), out["octave_state_out"].numpy()


def test_octave_hold_folds_a_short_octave_jump_and_takes_a_lasting_one():
    cfg = detector.DetectorConfig(octave_hold_buffers=8, octave_hold_max_buffers=8)
    readings = [220.0] * 10 + [441.0] * 4 + [221.0] * 3 + [440.0] * 9 + [110.0] + [300.0] * 9
    confidences = [0.9] * len(readings)
    confidences[-10] = 0.01  # silence: what follows starts a new run
    state, out = tf.zeros((1, 3)), []
    for reading, confidence in zip(readings, confidences, strict=True):
        pitch, state = detector.hold_octave(tf.constant([[reading]]), tf.constant([[confidence]]), state, cfg)
        out.append(float(pitch[0, 0]))
    np.testing.assert_allclose(out[10:14], 220.5)  # an octave up for 4 buffers after 10 held: folded back
    np.testing.assert_allclose(out[14:17], 221.0)
    np.testing.assert_allclose(out[17:24], 220.0)  # the new octave is folded for 7 buffers...
    np.testing.assert_allclose(out[24:26], 440.0)  # ...and taken on the 8th: a real leap
    assert out[26] == 110.0  # silence: reported as read, and no run is held after it
    np.testing.assert_allclose(out[27:], 300.0)
    state = tf.constant([[220.0, 10.0, 0.0]])  # 220 Hz held 10 buffers
    for reading, confidence in [(440.0, 0.5), (441.0, 0.05), (220.0, 0.9)]:  # a fading tail read an octave up
        pitch, state = detector.hold_octave(tf.constant([[reading]]), tf.constant([[confidence]]), state, cfg)
        assert abs(float(pitch[0, 0]) - 220.0) < 1.0
    np.testing.assert_allclose(state.numpy(), [[220.0, 11.0, 0.0]])  # the unsure buffers kept the run
    off = detector.DetectorConfig(octave_hold_buffers=0)
    state = tf.constant([[220.0, 20.0, 0.0]])
    pitch, after = detector.hold_octave(tf.constant([[440.0]]), tf.constant([[0.9]]), state, off)
    assert float(pitch[0, 0]) == 440.0 and np.array_equal(after.numpy(), state.numpy())


def _bin_logits(cfg: detector.DetectorConfig, weights: dict[float, float]) -> tf.Tensor:
    """Logits [1, bins] whose sigmoids are ``weight`` at each pitch (Hz) and a little elsewhere."""
    probability = sum(w * detector.pitch_targets(tf.constant([hz]), cfg) for hz, w in weights.items()) + 0.001
    probability = tf.clip_by_value(probability, 0.0, 0.999)
    return tf.math.log(probability / (1.0 - probability))


def test_octave_filter_keeps_the_octave_the_note_was_in_and_follows_a_new_note_at_once():
    cfg = detector.DetectorConfig(octave_filter_radius_bins=8)
    peak_hz = lambda peak: float(detector.decode_pitch(logits, cfg, peak)[0, 0])  # noqa: E731
    belief = tf.zeros((1, cfg.n_bins))
    octave_up = {440.0: 0.95, 220.0: 0.3}  # a vowel's second harmonic read strongest, its fundamental still there
    for step, weights in enumerate([{220.0: 0.95}] * 10 + [octave_up] * 5 + [{330.0: 0.95}]):
        logits = _bin_logits(cfg, weights)
        peak, belief = detector.filter_octave(logits, belief, cfg)
        want = 330.0 if step == 15 else 220.0  # the octave jump is held, the new note is taken on its first buffer
        assert abs(1200 * np.log2(peak_hz(peak) / want)) < 10.0, step
    assert abs(float(tf.reduce_sum(belief)) - 1.0) < 1e-4
    logits = _bin_logits(cfg, octave_up)
    peak, _ = detector.filter_octave(logits, tf.zeros((1, cfg.n_bins)), cfg)  # a cleared belief (silence before)
    assert abs(1200 * np.log2(peak_hz(peak) / 440.0)) < 10.0  # nothing to lean on: the strongest bin
    assert detector.octave_state_size(cfg) == 3 + cfg.n_bins
    assert detector.octave_state_size(detector.DetectorConfig(octave_filter_radius_bins=0)) == 3
    module = StreamingDetector(detector.build_network(cfg), cfg)  # the streaming graph carries the belief
    out = module(tf.zeros((1, 512)), tf.zeros((1, cfg.context_samples)), tf.zeros((1, 3 + cfg.n_bins)))
    assert out["octave_state_out"].shape == (1, 3 + cfg.n_bins)


def test_decoding_recovers_pitch_between_bins():
    cfg = detector.DetectorConfig()
    f0 = tf.constant([81.0, 219.3, 440.0, 1234.5, 1950.0])
    logits = tf.math.log(detector.pitch_targets(f0, cfg) + 1e-6) * 3.0
    decoded = detector.decode_pitch(logits, cfg).numpy()[:, 0]
    np.testing.assert_allclose(1200 * np.log2(decoded / f0.numpy()), 0.0, atol=2.0)


def test_export_files_names_and_parity(tiny_export):
    report = json.loads((tiny_export / "export_report.json").read_text())
    for name in (
        "pitch_detector_int8.tflite",
        "pitch_detector_float.tflite",
        "pitch_detector.onnx",
        "pitch_detector.h",
        "saved_model/saved_model.pb",
    ):
        assert (tiny_export / name).is_file(), name
    assert report["int8_source"] == "qat" and report["int8_network_fraction"] > 0.9  # only the ACF front-end matmul stays float
    assert set(report["parity"]) >= {"savedmodel", "tflite_float", "tflite_int8", "onnx"}
    assert report["parity"]["tflite_float"]["audio_state_out_max_abs"] == 0.0
    for path in ("pitch_detector_int8.tflite", "pitch_detector_float.tflite", "pitch_detector.onnx", "saved_model"):
        runner = load_runner(tiny_export / path)
        assert set(runner.inputs) == {NAMES.AUDIO_BUFFER, "audio_state", "octave_state"}, path
        assert set(runner.outputs) == {NAMES.PITCH, NAMES.CONFIDENCE, NAMES.HARMONICS, "audio_state_out", "octave_state_out"}, path
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tiny_export / "pitch_detector_int8.tflite"))
    names = {d["name"] for d in interpreter.get_input_details() + interpreter.get_output_details()}
    assert names == {
        NAMES.AUDIO_BUFFER, "audio_state", "octave_state", NAMES.PITCH, NAMES.CONFIDENCE, NAMES.HARMONICS, "audio_state_out", "octave_state_out"
    }  # fmt: skip
    ops = report["ops"]["tflite_int8"]
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "QUANTIZE"} <= set(ops)
    assert not any(op.startswith("FLEX") or op == "CUSTOM" for op in ops)


def test_onnx_takes_any_batch(tiny_export):
    runner = load_runner(tiny_export / "pitch_detector.onnx")
    out = runner({name: np.zeros((5, *shape[1:]), np.float32) for name, shape in runner.inputs.items()})
    assert out[NAMES.PITCH].shape == (5, 1) and out[NAMES.HARMONICS].shape == (5, 8)


def test_onnx_uses_the_native_dft_op_not_a_dft_matrix(tiny_export):
    import onnx

    model = onnx.load(str(tiny_export / "pitch_detector.onnx"))
    ops = {node.op_type for node in model.graph.node}
    assert "DFT" in ops and "Pad" not in ops
    largest = max(int(np.prod(i.dims)) for i in model.graph.initializer)
    assert largest < 100_000  # weights only: no DFT or inverse-cosine matrix
    assert (tiny_export / "pitch_detector.onnx").stat().st_size < 1_000_000


def test_export_refuses_to_overwrite(tiny_run, tiny_export):
    with pytest.raises(FileExistsError, match="--overwrite"):
        export(tiny_run, tiny_export)


def test_header_compiles_and_matches_the_model(tiny_export, tmp_path):
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++) on this machine")
    source = tmp_path / "check.cpp"
    source.write_text(
        f'#include "{tiny_export / "pitch_detector.h"}"\n#include <cstdio>\n'
        "namespace m = autotune_keras::pitch_detector;\n"
        'static_assert(m::kBufferSize == 512 && m::kSampleRate == 44100, "contract");\n'
        "int main() {\n"
        '  for (const auto& t : m::kInputs) std::printf("in %s %d %d %d %s\\n", t.name, t.rank, t.shape[0], t.shape[1], t.state_pair);\n'
        '  for (const auto& t : m::kOutputs) std::printf("out %s %d %d %d %s\\n", t.name, t.rank, t.shape[0], t.shape[1], t.state_pair);\n'
        '  std::printf("latency %d scales %zu major %d\\n", m::kLatencySamples, m::kScales.size(), m::kScales[0].count);\n}\n'
    )
    binary = tmp_path / "check"
    subprocess.run([compiler, "-std=c++17", "-Wall", "-Werror", str(source), "-o", str(binary)], check=True)
    printed = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout.splitlines()
    runner = load_runner(tiny_export / "pitch_detector_int8.tflite")
    for line in printed:
        kind, name, *rest = line.split()
        if kind in ("in", "out"):
            rank, batch, width = int(rest[0]), int(rest[1]), int(rest[2])
            shape = runner.inputs[name] if kind == "in" else runner.output_shape(name)
            assert (rank, batch, width) == (len(shape), shape[0], shape[1]), line
    assert "in audio_state 2 1 1536 audio_state_out" in printed
    report = json.loads((tiny_export / "export_report.json").read_text())
    assert printed[-1] == f"latency {report['latency_samples']} scales 7 major 7"


def test_detect_cli_writes_crepe_csv_and_reports_bad_files(tiny_export, tmp_path):
    audio_dir = tmp_path / "in"
    audio_dir.mkdir()
    sf.write(audio_dir / "tone.flac", np.stack([harmonic_tone(220.0, 1.0, 48000)] * 2, axis=1), 48000)
    (audio_dir / "broken.wav").write_bytes(b"not audio")
    result = subprocess.run(
        [sys.executable, "-m", "autotune_keras.detect", str(audio_dir), "--model", str(tiny_export), "--output", str(tmp_path / "out"), "--plot"],
        cwd=ROOT, capture_output=True, text=True, env=os.environ | {"MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert re.search(r"broken.wav: cannot decode audio", result.stderr)
    lines = (tmp_path / "out" / "tone.f0.csv").read_text().splitlines()
    assert lines[0] == "time,frequency,confidence"
    times = np.array([float(line.split(",")[0]) for line in lines[1:]])
    assert len(times) == int(np.ceil(44100 / 512))
    np.testing.assert_allclose(np.diff(times), 512 / 44100, atol=1e-3)
    assert times[0] == pytest.approx(256 / 44100, abs=1e-3)
    assert (tmp_path / "out" / "tone.f0.png").stat().st_size > 10_000


def test_benchmark_reports_latency(tiny_export):
    from autotune_keras.benchmark import format_report
    from autotune_keras.engine.measure import benchmark

    figures = benchmark(tiny_export / "pitch_detector_int8.tflite", runs=200, warmup=10)
    assert 0 < figures["min_ms"] <= figures["median_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["median_ms"] < contract.LATENCY_BUDGET_MS
    assert "median=" in format_report(figures)


def test_stream_state_makes_buffers_depend_on_the_past(tiny_export):
    stream = Stream(load_runner(tiny_export / "pitch_detector_float.tflite"))
    tone = harmonic_tone(220.0, 0.1)
    first = stream.process(tone[:512])
    second = stream.process(tone[:512])
    stream.reset()
    again = stream.process(tone[:512])
    np.testing.assert_array_equal(first[NAMES.HARMONICS], again[NAMES.HARMONICS])
    assert not np.array_equal(first[NAMES.HARMONICS], second[NAMES.HARMONICS])


def test_killed_training_resumes_where_it_stopped(synthetic_records, tmp_path):
    run_dir = tmp_path / "resumed"
    command = [sys.executable, "-m", "autotune_keras.train", "--run_dir", str(run_dir), "--epochs", "6", "--steps_per_epoch", "3",
               f"--pipeline.records={synthetic_records}", "--pipeline.mix=", "--pipeline.mix_weights=",
               "--pipeline.batch_size=8", "--train.validation_steps=1",
               "--train.contour_clips=0", "--qat.enabled=False"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run_dir / "float-history.csv"
    deadline = time.time() + 300
    while (
        time.time() < deadline and process.poll() is None and (not history.is_file() or len(history.read_text().splitlines()) < 3)
    ):
        time.sleep(0.2)
    assert process.poll() is None, "training finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(history.read_text().splitlines()) - 1
    assert 2 <= done_before < 6
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs[:done_before] == list(range(done_before))
    assert epochs[-1] == 5 and len(epochs) <= 7  # continued; at most the interrupted epoch ran twice
    assert (run_dir / "float.weights.h5").is_file()


def test_octave_penalty_charges_probability_an_octave_or_a_twelfth_away():
    from autotune_keras import losses

    cfg = detector.DetectorConfig()
    f0 = tf.constant([220.0, 220.0, 220.0, 0.0])
    targets = detector.pitch_targets(f0, cfg)
    probability_at = lambda hz: tf.cast(detector.pitch_targets(tf.constant([hz]), cfg) > 0.5, tf.float32)[0]  # noqa: E731
    probabilities = tf.stack([probability_at(440.0), probability_at(330.0), probability_at(220.0 * 3), probability_at(440.0)])
    penalty = losses.octave_penalty(targets, probabilities, 1.0 / cfg.cents_per_bin).numpy()
    assert penalty[0] > 0.2 and penalty[2] > 0.2  # an octave up, a twelfth up
    assert penalty[1] == pytest.approx(0.0, abs=1e-3)  # a fifth: an ordinary wrong bin, not an octave error
    assert penalty[3] == 0.0  # unvoiced: nothing to charge
    loss = losses.pitch_bin_loss(1.0, 1.0 / cfg.cents_per_bin)
    logits_octave = tf.math.log(probabilities[:1] + 1e-3) - tf.math.log(1.0 - probabilities[:1] + 1e-3)
    logits_fifth = tf.math.log(probabilities[1:2] + 1e-3) - tf.math.log(1.0 - probabilities[1:2] + 1e-3)
    assert float(loss(targets[:1], logits_octave)[0]) > float(loss(targets[:1], logits_fifth)[0])  # octave errors cost more


def test_subharmonic_check_puts_a_weak_fundamental_back_from_its_second_or_third_harmonic():
    """A 196 Hz tone whose second harmonic is the loudest (a guitar-like spectrum) read at 392 Hz
    is put back at 196 Hz, and a 330 Hz clarinet-like tone (odd harmonics, the third loudest) read
    at 990 Hz back at 330 Hz once 3 is a divisor; true 392 / 990 Hz tones and true readings stay;
    margin 0 is off."""
    cfg = detector.DetectorConfig(subharmonics=(2, 3))
    t = np.arange(cfg.window_samples) / contract.SAMPLE_RATE
    guitar = {1: 0.5, 2: 1.0, 3: 0.5, 4: 0.6, 5: 0.3, 6: 0.4}
    thin = sum(a * np.sin(2 * np.pi * k * 196.0 * t + k) for k, a in guitar.items())
    clarinet = {1: 0.4, 3: 1.0, 5: 0.5, 7: 0.3}
    odd = sum(a * np.sin(2 * np.pi * k * 330.0 * t + k) for k, a in clarinet.items())
    tones = [thin, harmonic_tone(392.0, 1.0)[: cfg.window_samples], thin, odd, harmonic_tone(990.0, 1.0)[: cfg.window_samples], odd]
    nccf = detector.network_inputs(tf.constant(np.stack(tones).astype(np.float32)), cfg)["nccf"]
    read = tf.constant([[392.0], [392.0], [196.0], [990.0], [990.0], [330.0]])
    checked = detector.subharmonic_check(read, nccf, cfg).numpy()[:, 0]
    np.testing.assert_allclose(checked, [196.0, 392.0, 196.0, 330.0, 990.0, 330.0], rtol=1e-6)
    octave_only = detector.subharmonic_check(read, nccf, detector.DetectorConfig(subharmonics=(2,))).numpy()[:, 0]
    assert octave_only[0] == pytest.approx(196.0) and octave_only[3] == pytest.approx(990.0)  # the twelfth needs k = 3
    off = detector.subharmonic_check(read, nccf, detector.DetectorConfig(suboctave_margin=0.0, subharmonics=(2, 3))).numpy()[:, 0]
    np.testing.assert_allclose(off, read.numpy()[:, 0])


def test_nccf_equals_the_direct_autocorrelation_negative_lags_included():
    """The two-RFFT NCCF (the magnitude-only inverse) equals the decimated window's autocorrelation
    computed directly, normalised by lag 0 and unbiased for the overlap, including the negative
    values at half a period, for a tone, noise and a quiet tone."""
    cfg = detector.DetectorConfig()
    t = np.arange(cfg.window_samples) / contract.SAMPLE_RATE
    windows = np.stack(
        [np.sin(2 * np.pi * 220.0 * t), np.random.default_rng(1).standard_normal(cfg.window_samples), 1e-4 * np.sin(2 * np.pi * 1500.0 * t)]
    ).astype(np.float32)
    lags = cfg.evidence_lags
    fast = detector.nccf(detector.normalize_window(tf.constant(windows)), cfg, lags).numpy()
    for row, window in zip(fast, detector.normalize_window(tf.constant(windows)).numpy(), strict=True):
        decimated = window.reshape(-1, cfg.nccf_decimation).mean(axis=1).astype(np.float64)
        n = len(decimated)
        direct = np.array([np.dot(decimated[: n - k], decimated[k:]) for k in range(lags)])
        expected = direct / direct[0] * n / (n - np.arange(lags))
        np.testing.assert_allclose(row, expected, atol=2e-4)
    assert fast[0].min() < -0.9  # 220 Hz in antiphase at half its period


def test_bin_evidence_tells_a_pitch_from_its_octaves():
    """The per-bin evidence of a 220 Hz tone with a loud second harmonic: at 220 Hz's bin the NCCF
    is high at the period and low at half of it (the fundamental in antiphase); at 440 Hz's bin the
    period twice as long beats the bin's own; at 110 Hz's bin half the period is as periodic as
    the period. Multiples past the long NCCF's lags read 0; and with no multiples there is no
    evidence input."""
    cfg = detector.DetectorConfig()
    t = np.arange(cfg.window_samples) / contract.SAMPLE_RATE
    bright = sum(a * np.sin(2 * np.pi * k * 220.0 * t + k) for k, a in {1: 0.5, 2: 1.0, 3: 0.4, 4: 0.3}.items())
    inputs = detector.network_inputs(tf.constant(bright[None, :].astype(np.float32)), cfg)
    evidence = inputs["bin_evidence"].numpy()[0, 0]
    assert evidence.shape == (cfg.n_bins, len(cfg.bin_evidence_multiples))
    half, one, two = (cfg.bin_evidence_multiples.index(m) for m in (0.5, 1.0, 2.0))
    bin_of = lambda hz: int(np.argmin(np.abs(cfg.bin_cents() - 1200 * np.log2(hz / 10.0))))  # noqa: E731
    at_pitch, octave_up, octave_down = evidence[bin_of(220.0)], evidence[bin_of(440.0)], evidence[bin_of(110.0)]
    assert at_pitch[one] > 0.9 and at_pitch[half] < at_pitch[one] - 0.3
    assert octave_up[two] > octave_up[one] + 0.2
    assert octave_down[half] > 0.9 and octave_down[one] > 0.9
    np.testing.assert_array_equal(inputs["nccf"].numpy(), detector.nccf(inputs["window"], cfg).numpy())
    assert np.all(evidence[: bin_of(90.0), cfg.bin_evidence_multiples.index(3.0)] != 0.0)  # 3 x 90 Hz's period fits
    assert "bin_evidence" not in detector.network_inputs(tf.constant(bright[None, :].astype(np.float32)), detector.DetectorConfig(bin_evidence_multiples=()))


def test_superharmonic_check_lifts_a_reading_an_octave_low_and_leaves_true_low_notes():
    """A 330 Hz tone read at 165 Hz is lifted to 330 Hz; a true 165 Hz tone with a loud second
    harmonic, a true 330 Hz reading and a reading on noise stay; with no multipliers nothing moves;
    a lift past the contract's 2000 Hz is not made."""
    cfg = detector.DetectorConfig(superharmonics=(2,))
    high = harmonic_tone(330.0, 1.0)[: cfg.window_samples]
    t = np.arange(cfg.window_samples) / contract.SAMPLE_RATE
    low_bright = sum(a * np.sin(2 * np.pi * k * 165.0 * t + k) for k, a in {1: 0.5, 2: 1.0, 3: 0.4, 4: 0.3}.items())
    noise = (0.1 * np.random.default_rng(0).standard_normal(cfg.window_samples)).astype(np.float32)
    above_range = np.sin(2 * np.pi * 2200.0 * t)  # periodic at 2200 Hz, past the contract's range
    windows = tf.constant(np.stack([high, low_bright, high, noise, above_range]).astype(np.float32))
    nccf = detector.network_inputs(windows, cfg)["nccf"]
    read = tf.constant([[165.0], [165.0], [330.0], [150.0], [1100.0]])
    checked = detector.superharmonic_check(read, nccf, cfg).numpy()[:, 0]
    np.testing.assert_allclose(checked, [330.0, 165.0, 330.0, 150.0, 1100.0], rtol=1e-6)
    period = contract.SAMPLE_RATE / cfg.nccf_decimation / read
    short, at_period = (detector.nccf_peak(nccf, lag)[:, 0].numpy() for lag in (period / 2.0, period))
    # the 2200 Hz period qualifies on the NCCF alone: only the range keeps 1100 Hz
    assert short[4] >= max(at_period[4] - cfg.superharmonic_margin, cfg.superharmonic_min_nccf)
    off = detector.superharmonic_check(read, nccf, detector.DetectorConfig(superharmonics=())).numpy()[:, 0]
    np.testing.assert_allclose(off, read.numpy()[:, 0])


def test_refine_pitch_moves_a_sharp_low_reading_onto_the_waveforms_period():
    """A 110 Hz tone read 35 cents sharp comes back within 3 cents; a 440 Hz reading (above
    refine_below_hz) and a reading on noise (no clear NCCF peak) are left as they are; and with
    refine_below_hz 0 nothing moves."""
    cfg = detector.DetectorConfig(refine_below_hz=300.0)
    low = harmonic_tone(110.0, 1.0)[: cfg.window_samples]
    noise = (0.1 * np.random.default_rng(0).standard_normal(cfg.window_samples)).astype(np.float32)
    windows = tf.constant(np.stack([low, harmonic_tone(440.0, 1.0)[: cfg.window_samples], noise]))
    nccf = detector.network_inputs(windows, cfg)["nccf"]
    sharp = 2 ** (35 / 1200)
    read = tf.constant([[110.0 * sharp], [440.0 * sharp], [150.0]])
    refined = detector.refine_pitch(read, nccf, cfg).numpy()[:, 0]
    assert abs(1200 * np.log2(refined[0] / 110.0)) < 3.0
    np.testing.assert_allclose(refined[1:], read.numpy()[1:, 0])
    off = detector.refine_pitch(read, nccf, detector.DetectorConfig(refine_below_hz=0.0)).numpy()[:, 0]
    np.testing.assert_allclose(off, read.numpy()[:, 0])

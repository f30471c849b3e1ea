"""The trained default in saved_models/pitch_detector: it loads, matches its header, and hears pitch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import harmonic_tone

from autotune_keras import contract, music
from autotune_keras.engine.exports import shipped_model
from autotune_keras.engine.runners import load_runner
from autotune_keras.engine.stream import stream

DEFAULT_MODEL = shipped_model("pitch_detector")
FILES = ("pitch_detector_int8.tflite", "pitch_detector_float.tflite", "pitch_detector.onnx", "saved_model")


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads((DEFAULT_MODEL / "export_report.json").read_text())


def header_tensors(path: Path) -> dict[str, tuple[int, ...]]:
    rows = re.findall(r'TensorInfo\{"(\w+)", DType::(\w+), (\d), \{([-\d, ]+)\}', path.read_text())
    return {name: tuple(int(d) for d in dims.split(","))[: int(rank)] for name, _, rank, dims in rows}


def test_shipped_files_are_small_and_match_the_header(report):
    assert (DEFAULT_MODEL / "pitch_detector_int8.tflite").stat().st_size < 1_000_000
    declared = header_tensors(DEFAULT_MODEL / "pitch_detector.h")
    assert set(declared) == set(report["inputs"]) | set(report["outputs"])
    for name in FILES:
        runner = load_runner(DEFAULT_MODEL / name)
        for tensor, shape in runner.inputs.items():
            assert shape[1:] == declared[tensor][1:], (name, tensor)
        assert set(runner.outputs) == set(report["outputs"]), name
    text = (DEFAULT_MODEL / "pitch_detector.h").read_text()
    assert f"kLatencySamples = {report['latency_samples']};" in text


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("f0", [110.0, 261.6, 440.0, 987.8])
def test_shipped_model_hears_a_steady_tone(name, f0):
    out = stream(load_runner(DEFAULT_MODEL / name), harmonic_tone(f0, 0.6)).outputs
    steady = slice(6, None)  # after the 1536-sample state has filled
    pitch = out[contract.PitchDetectorTensors.PITCH].reshape(-1)[steady]
    confidence = out[contract.PitchDetectorTensors.CONFIDENCE].reshape(-1)[steady]
    assert np.median(np.abs(music.cents_between(pitch, f0))) < 50  # RPA tolerance; 110 Hz reads ~30 cents sharp today
    assert np.median(confidence) >= contract.CONFIDENCE_THRESHOLD
    harmonics = out[contract.PitchDetectorTensors.HARMONICS][steady]
    assert np.all((harmonics >= 0) & (harmonics <= 1))


def test_shipped_model_calls_silence_and_noise_unvoiced():
    runner = load_runner(DEFAULT_MODEL / "pitch_detector_int8.tflite")
    silence = stream(runner, np.zeros(44100 // 2, np.float32)).outputs[contract.PitchDetectorTensors.CONFIDENCE]
    noise = np.random.default_rng(0).standard_normal(44100 // 2).astype(np.float32) * 0.1
    hiss = stream(runner, noise).outputs[contract.PitchDetectorTensors.CONFIDENCE]
    assert np.all(silence < contract.CONFIDENCE_THRESHOLD)
    assert np.mean(hiss[4:] < contract.CONFIDENCE_THRESHOLD) > 0.9

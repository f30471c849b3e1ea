"""Adding a model is one definition plus one registry line: a toy model with a 2048-sample input
and a confidence output named ``presence`` goes through the generic train, export (every format,
parity, streaming check, header with its own buffer size), stream, benchmark and realtime layers."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import toy_model

from autotune_keras import models
from autotune_keras.engine.measure import benchmark, stream_realtime
from autotune_keras.engine.runners import load_runner
from autotune_keras.engine.stream import stream
from autotune_keras.export.pipeline import export


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    from autotune_keras.train import main as train_main

    models.register(toy_model.TOY)
    folder = tmp_path_factory.mktemp("toy")
    config = folder / "toy.yaml"
    config.write_text("task: toy_level\nfilters: 3\n")
    train_main(str(config), run_dir=str(folder / "run"), epochs=2, steps_per_epoch=2)
    out = folder / "export"
    export(folder / "run", out)  # the model is read from the run's config
    yield out
    models.REGISTRY.pop("toy_level")


def test_generic_train_and_export_write_every_format(toy_export):
    report = json.loads((toy_export / "export_report.json").read_text())
    assert report["model"] == "toy_level" and report["buffer_size"] == 2048
    assert report["int8_source"] == "post-training quantization"
    for name in ("toy_level_int8.tflite", "toy_level_float.tflite", "toy_level.onnx", "saved_model/saved_model.pb"):
        assert (toy_export / name).is_file(), name
    assert set(report["parity"]) >= {"savedmodel", "tflite_float", "onnx", "tflite_int8", "tflite_float_streaming"}
    assert report["parity"]["tflite_float"]["voiced_frames"] >= 0  # confidence read from `presence`
    header = (toy_export / "toy_level.h").read_text()
    assert "constexpr int kBufferSize = 2048;" in header
    assert re.search(r'TensorInfo\{"smoothed", DType::kFloat32, 2, \{1, 1, 0, 0\}, [^,]+, 0, "smoothed_out"', header)


def test_exported_toy_streams_with_its_state_and_buffer(toy_export):
    runner = load_runner(toy_export)
    assert runner.signature.buffer_size == 2048 and runner.signature.confidence == "presence"
    audio = np.random.default_rng(0).standard_normal(5 * 2048).astype(np.float32) * 0.2
    result = stream(runner, audio)
    assert result.buffers == 5 and set(result.outputs) == {"level", "presence"}
    onnx = stream(load_runner(toy_export / "toy_level.onnx"), audio).outputs
    np.testing.assert_allclose(onnx["level"], stream(load_runner(toy_export / "toy_level_float.tflite"), audio).outputs["level"], atol=1e-5)


def test_benchmark_and_realtime_take_the_buffer_from_the_model(toy_export):
    figures = benchmark(toy_export / "toy_level_int8.tflite", runs=20, warmup=2)
    assert figures["buffer_samples"] == 2048 and figures["median_ms"] > 0
    realtime = stream_realtime(toy_export, np.zeros(4 * 2048, np.float32), paced=False)
    assert realtime["buffers"] == 4 and realtime["buffer_samples"] == 2048


def test_evaluating_a_model_without_an_evaluation_hook_says_so(toy_export):
    from autotune_keras.evaluate import evaluate

    with pytest.raises(ValueError, match="no evaluation is defined for toy_level models"):
        evaluate(toy_export, out=toy_export.parent / "evaluation")

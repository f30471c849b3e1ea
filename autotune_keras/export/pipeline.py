"""The export chain, the same for every model: SavedModel, float TFLite, INT8 TFLite, ONNX into a
temp folder; parity of every format on the same inputs; a streaming check; the C++ header and
export_report.json; then one rename into place."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from autotune_keras import contract, models
from autotune_keras.engine.exports import REPORT_FILE, model_size
from autotune_keras.engine.runners import ModuleRunner, OnnxRunner, SavedModelRunner, TFLiteRunner
from autotune_keras.engine.stream import stream
from autotune_keras.export import header, onnx, parity, savedmodel, tflite
from autotune_keras.export.spec import ExportSpec
from autotune_keras.files import check_output_folder, remove_stale_temps


def module_outputs(module, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A module's outputs on a batch of feeds, as numpy."""
    return {k: v.numpy() for k, v in module(**{name: tf.constant(value) for name, value in feeds.items()}).items()}


def _run_each(runner, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A batch-1 runner over every row of a batch of feeds."""
    rows = [runner({k: v[i : i + 1] for k, v in feeds.items()}) for i in range(len(next(iter(feeds.values()))))]
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def _compare(spec: ExportSpec, reference: dict, candidate: dict) -> dict[str, float]:
    return parity.compare(reference, candidate, spec.signature.pitch, spec.signature.confidence, contract.CONFIDENCE_THRESHOLD)


def streaming_errors(spec: ExportSpec, tflite_path: Path) -> dict[str, float]:
    """``spec.streaming_audio`` streamed through the float TFLite (the runtime feeding state back)
    against ``spec.float_module`` stepped by the same loop, for each set of controls."""
    errors: dict[str, float] = {}
    exported, live = TFLiteRunner(tflite_path), ModuleRunner(spec.float_module, spec.signature)
    exported.signature = spec.signature
    for label, controls in spec.streaming_controls.items():
        feeds = {name: np.asarray(value, np.float32) for name, value in controls.items()} or None
        streamed = stream(exported, spec.streaming_audio, feeds).outputs
        stepped = stream(live, spec.streaming_audio, feeds).outputs
        prefix = f"{label}_" if label else ""
        errors |= {prefix + key: value for key, value in _compare(spec, stepped, streamed).items()}
    return errors


def _int8_network_input(int8_tflite: bytes) -> dict | None:
    """Quantization of the INT8 network's input (the first QUANTIZE op's output), if any."""
    runner = tflite.interpreter(int8_tflite)
    quantize_ops = [op for op in runner._get_ops_details() if op["op_name"] == "QUANTIZE"]
    if not quantize_ops:
        return None
    detail = runner.get_tensor_details()[quantize_ops[0]["outputs"][0]]
    return {"scale": float(detail["quantization"][0]), "zero_point": int(detail["quantization"][1])}


def _tensor_list(details: dict[str, dict], names, signature: contract.Signature, graph_names: dict[str, str]) -> list[dict]:
    pairs = signature.state_pairs | {v: k for k, v in signature.state_pairs.items()}
    rows = []
    for name in names:
        detail = details[name]
        rows.append(
            {
                "name": name,
                "dtype": detail["dtype"],
                "shape": [1, *detail["shape"][1:]],
                "scale": detail["scale"],
                "zero_point": detail["zero_point"],
                "state_pair": pairs.get(name, ""),
                "savedmodel_tensor": graph_names[name],
            }
        )
    return rows


def export_model(spec: ExportSpec, out: Path) -> dict:
    """Write every format of ``spec`` to a temp folder, check parity, write the header and report,
    and rename the folder to ``out`` (replacing it); returns the report."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    name = spec.name
    files = {
        "savedmodel": tmp / "saved_model",
        "tflite_float": tmp / f"{name}_float.tflite",
        "tflite_int8": tmp / f"{name}_int8.tflite",
        "onnx": tmp / f"{name}.onnx",
        "header": tmp / f"{name}.h",
    }
    timings = {}
    started = time.perf_counter()
    savedmodel.save(spec.float_module, files["savedmodel"])
    timings["savedmodel_s"] = time.perf_counter() - started

    started = time.perf_counter()
    float_tflite = tflite.rename_io_tensors(tflite.convert_float(spec.float_module.concrete_function(1), spec.float_module))
    files["tflite_float"].write_bytes(float_tflite)
    if spec.int8_from_qat:
        int8_tflite = tflite.convert_qat(spec.int8_module.concrete_function(1), spec.int8_module)
    else:
        int8_tflite = tflite.convert_int8(
            spec.int8_module.concrete_function(1), spec.int8_module, lambda: iter(spec.representative)
        )
    int8_tflite = tflite.rename_io_tensors(int8_tflite)
    files["tflite_int8"].write_bytes(int8_tflite)
    timings["tflite_s"] = time.perf_counter() - started

    started = time.perf_counter()
    onnx_bytes = onnx.convert(
        tf.function(spec.float_module.__call__), spec.float_module.input_signature(None), sorted(spec.signature.all_outputs)
    )
    files["onnx"].write_bytes(onnx_bytes)
    timings["onnx_s"] = time.perf_counter() - started

    reference_float = module_outputs(spec.float_module, spec.feeds)
    reference_int8 = module_outputs(spec.int8_module, spec.feeds)
    int8_outputs = _run_each(TFLiteRunner(files["tflite_int8"]), spec.feeds)
    results = {
        "savedmodel": _compare(spec, reference_float, SavedModelRunner(files["savedmodel"])(spec.feeds)),
        "tflite_float": _compare(spec, reference_float, _run_each(TFLiteRunner(files["tflite_float"]), spec.feeds)),
        "onnx": _compare(spec, reference_float, OnnxRunner(files["onnx"])(spec.feeds)),
        "tflite_int8": _compare(spec, reference_int8, int8_outputs),
        "tflite_int8_vs_float_keras": _compare(spec, reference_float, int8_outputs),
    }
    parity.check("SavedModel", results["savedmodel"], spec.float_tolerance)
    parity.check("float TFLite", results["tflite_float"], spec.float_tolerance)
    parity.check("ONNX", results["onnx"], spec.float_tolerance)
    parity.check("INT8 TFLite", results["tflite_int8"], spec.int8_tolerance)
    if spec.streaming_audio is not None:
        results["tflite_float_streaming"] = streaming_errors(spec, files["tflite_float"])
        parity.check("float TFLite streamed", results["tflite_float_streaming"], spec.streaming_tolerance)
    for label, check in spec.extra_checks.items():  # a label already in the results adds to it
        errors, tolerance = check(files)
        results[label] = results.get(label, {}) | errors
        parity.check(label, errors, tolerance)

    int8_io = tflite.io_details(int8_tflite)
    graph_names = savedmodel.tensor_names(files["savedmodel"])
    sig = spec.signature
    files["header"].write_text(
        header.render(
            name,
            _tensor_list(int8_io, sig.all_inputs, sig, graph_names),
            _tensor_list(int8_io, sig.all_outputs, sig, graph_names),
            spec.latency_samples,
            spec.notes,
            _int8_network_input(int8_tflite),
            buffer_size=sig.buffer_size,
        )
    )
    report = {
        "model": name,
        "checkpoint": spec.checkpoint,
        "int8_source": "qat" if spec.int8_from_qat else "post-training quantization",
        "latency_samples": spec.latency_samples,
        "buffer_size": sig.buffer_size,
        "inputs": list(sig.all_inputs),
        "outputs": list(sig.all_outputs),
        "state": sig.state_pairs,
        "signature": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(sig).items()},
        **spec.report,
        "sizes_bytes": {k: model_size(v) for k, v in files.items()},
        "parity": results,
        "tolerances": {"float_formats": spec.float_tolerance, "int8": spec.int8_tolerance, "streaming": spec.streaming_tolerance},
        "ops": {
            "tflite_float": tflite.op_histogram(float_tflite),
            "tflite_int8": tflite.op_histogram(int8_tflite),
            "onnx": onnx.op_histogram(onnx_bytes),
        },
        "int8_network_fraction": tflite.int8_fraction(int8_tflite),
        "onnx_opset": onnx.OPSET,
        "export_seconds": {k: round(v, 2) for k, v in timings.items()},
    }
    (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2, default=float) + "\n")
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    return report


def export(checkpoint: str | Path, out: str | Path, overwrite: bool = False, model: str | None = None) -> dict:
    """Export the training run ``checkpoint`` as model ``model`` (default: the run's own ``task``)
    to ``out`` with every format, parity checks, header and report; returns the report."""
    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_dir():
        raise FileNotFoundError(f"{checkpoint}: no such training run folder")
    definition = models.get(model or models.task_of(checkpoint))
    check_output_folder(out, REPORT_FILE, overwrite, inputs=(checkpoint,))
    for leftover in remove_stale_temps(out.parent, out.name):
        print(f"removed {leftover}, left by an export that was killed")
    spec = definition.export_spec(definition.load_run(checkpoint))
    return export_model(spec, out)

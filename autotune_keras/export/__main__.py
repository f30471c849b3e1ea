"""Export a trained pitch detector run.

    python -m autotune_keras.export --checkpoint runs/pitch_detector --out saved_models/pitch_detector

Writes SavedModel, float TFLite, INT8 TFLite (from the QAT weights when present), ONNX (dynamic
batch), a C++ header and export_report.json into a temp folder, checks parity of every format on
the same inputs, and renames the folder into place. An existing export is kept unless --overwrite.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from autotune_keras import contract
from autotune_keras.cli import run
from autotune_keras.config import PipelineConfig, load, to_dict
from autotune_keras.data.pipeline import make_dataset
from autotune_keras.export import header, onnx, parity, tflite
from autotune_keras.models import detector
from autotune_keras.runtime import OnnxRunner, SavedModelRunner, Stream, TFLiteRunner

NAME = "pitch_detector"
NAMES = contract.PitchDetectorTensors
# Stated tolerances: float formats against the float Keras model; INT8 against the QAT model.
FLOAT_TOLERANCE = {"pitch_cents_p95": 1.0, "confidence_max_abs": 1e-4, "harmonics_max_abs": 1e-4, "audio_state_out_max_abs": 0.0}
INT8_TOLERANCE = {
    "pitch_cents_median": 10.0,
    "pitch_within_50_cents_min": 0.95,
    "confidence_max_abs": 0.15,
    "harmonics_max_abs": 0.25,
    "audio_state_out_max_abs": 0.0,
}


def _load_networks(checkpoint: Path):
    from autotune_keras.train import load_experiment

    exp = load_experiment(checkpoint / "config.yaml")
    float_net = detector.build_network(exp.model)
    float_net.load_weights(str(checkpoint / "float.weights.h5"))
    qat_net = None
    if (checkpoint / "qat.weights.h5").is_file():
        from autotune_keras.quantize import quantize_aware

        qat_net = quantize_aware(detector.build_network(exp.model))
        qat_net.load_weights(str(checkpoint / "qat.weights.h5"))
    return exp, float_net, qat_net


def _windows(exp, split: str, count: int, training: bool) -> np.ndarray:
    pipeline = load(
        PipelineConfig,
        None,
        overrides=to_dict(exp.pipeline) | {"window_samples": exp.model.window_samples, "with_targets": False, "batch_size": 16},
    )
    batches = make_dataset(pipeline, split, training=training).take(int(np.ceil(count / 16)))
    return np.concatenate([b["audio"].numpy() for b in batches])[:count]


def _split(windows: np.ndarray, context: int) -> dict[str, np.ndarray]:
    return {NAMES.AUDIO_BUFFER: windows[:, context:], detector.StreamingDetector.STATE_IN: windows[:, :context]}


def _run_each(runner, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rows = [runner({k: v[i : i + 1] for k, v in feeds.items()}) for i in range(len(next(iter(feeds.values()))))]
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def _keras(module: detector.StreamingDetector, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        k: v.numpy()
        for k, v in module(
            tf.constant(feeds[NAMES.AUDIO_BUFFER]), tf.constant(feeds[detector.StreamingDetector.STATE_IN])
        ).items()
    }


def _tensor_list(details: dict[str, dict], names: list[str], batch: int | None, state_pairs: dict[str, str]) -> list[dict]:
    rows = []
    for name in names:
        detail = details[name]
        shape = [batch if batch is not None else -1, *detail["shape"][1:]]
        rows.append(
            {
                "name": name,
                "dtype": detail["dtype"],
                "shape": shape,
                "scale": detail["scale"],
                "zero_point": detail["zero_point"],
                "state_pair": state_pairs.get(name, ""),
            }
        )
    return rows


def export(checkpoint: str | Path, out: str | Path, overwrite: bool = False) -> dict:
    """Export, verify and report; returns the report."""
    checkpoint, out = Path(checkpoint), Path(out)
    if not (checkpoint / "float.weights.h5").is_file():
        raise FileNotFoundError(f"{checkpoint}: no float.weights.h5; train first (python -m autotune_keras.train)")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; pass --overwrite to replace it")
    exp, float_net, qat_net = _load_networks(checkpoint)
    cfg = exp.model
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    float_module = detector.StreamingDetector(float_net, cfg)
    int8_module = detector.StreamingDetector(qat_net or float_net, cfg)
    state_pairs = {
        detector.StreamingDetector.STATE_IN: detector.StreamingDetector.STATE_OUT,
        detector.StreamingDetector.STATE_OUT: detector.StreamingDetector.STATE_IN,
    }
    input_names = [NAMES.AUDIO_BUFFER, detector.StreamingDetector.STATE_IN]
    output_names = [NAMES.PITCH, NAMES.CONFIDENCE, NAMES.HARMONICS, detector.StreamingDetector.STATE_OUT]
    files = {
        "savedmodel": tmp / "saved_model",
        "tflite_float": tmp / f"{NAME}_float.tflite",
        "tflite_int8": tmp / f"{NAME}_int8.tflite",
        "onnx": tmp / f"{NAME}.onnx",
        "header": tmp / f"{NAME}.h",
    }
    timings = {}

    started = time.perf_counter()
    tf.saved_model.save(
        float_module, str(files["savedmodel"]), signatures={"serving_default": float_module.concrete_function(None)}
    )
    timings["savedmodel_s"] = time.perf_counter() - started

    started = time.perf_counter()
    float_tflite = tflite.rename_io_tensors(tflite.convert_float(float_module.concrete_function(1), float_module))
    files["tflite_float"].write_bytes(float_tflite)
    representative_windows = _windows(exp, "train", 256, training=True) if qat_net is None else []

    def representative():
        for window in representative_windows:
            yield _split(window[None, :], cfg.context_samples)

    if qat_net is not None:
        int8_tflite = tflite.convert_qat(int8_module.concrete_function(1), int8_module)
    else:
        int8_tflite = tflite.convert_int8(int8_module.concrete_function(1), int8_module, representative)
    int8_tflite = tflite.rename_io_tensors(int8_tflite)
    files["tflite_int8"].write_bytes(int8_tflite)
    timings["tflite_s"] = time.perf_counter() - started

    started = time.perf_counter()
    onnx_bytes = onnx.convert(tf.function(float_module.__call__), float_module.input_signature(None), sorted(output_names))
    files["onnx"].write_bytes(onnx_bytes)
    timings["onnx_s"] = time.perf_counter() - started

    # ---- parity on the same windows: validation audio plus silence and a quiet tone
    windows = _windows(exp, "validation", 160, training=False)
    t = np.arange(cfg.window_samples) / contract.SAMPLE_RATE
    extra = np.stack([np.zeros(cfg.window_samples), 0.001 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    feeds = _split(np.concatenate([windows, extra]), cfg.context_samples)
    reference_float = _keras(float_module, feeds)
    reference_int8 = _keras(int8_module, feeds)
    kwargs = {"pitch_name": NAMES.PITCH, "confidence_name": NAMES.CONFIDENCE, "threshold": contract.CONFIDENCE_THRESHOLD}
    results = {
        "savedmodel": parity.compare(reference_float, SavedModelRunner(files["savedmodel"])(feeds), **kwargs),
        "tflite_float": parity.compare(reference_float, _run_each(TFLiteRunner(files["tflite_float"]), feeds), **kwargs),
        "onnx": parity.compare(reference_float, OnnxRunner(files["onnx"])(feeds), **kwargs),
        "tflite_int8": parity.compare(reference_int8, _run_each(TFLiteRunner(files["tflite_int8"]), feeds), **kwargs),
        "tflite_int8_vs_float_keras": parity.compare(
            reference_float, _run_each(TFLiteRunner(files["tflite_int8"]), feeds), **kwargs
        ),
    }
    # streaming: state carried by the runtime equals the sliding window Keras sees
    clip = np.concatenate([windows[0], windows[1], windows[2]])
    streamed = Stream(TFLiteRunner(files["tflite_float"])).run(clip)
    from autotune_keras.train import buffer_windows

    sliding = _keras(float_module, _split(buffer_windows(clip, cfg.context_samples), cfg.context_samples))
    results["tflite_float_streaming"] = parity.compare(
        {k: v for k, v in sliding.items() if k != detector.StreamingDetector.STATE_OUT}, streamed, **kwargs
    )
    parity.check("SavedModel", results["savedmodel"], FLOAT_TOLERANCE)
    parity.check("float TFLite", results["tflite_float"], FLOAT_TOLERANCE)
    parity.check("ONNX", results["onnx"], FLOAT_TOLERANCE)
    parity.check("INT8 TFLite", results["tflite_int8"], INT8_TOLERANCE)
    parity.check("streamed float TFLite", results["tflite_float_streaming"], {"pitch_cents_p95": 1.0, "confidence_max_abs": 1e-4})

    int8_io = tflite.io_details(int8_tflite)
    int8_runner = tflite.interpreter(int8_tflite)
    quantize_ops = [op for op in int8_runner._get_ops_details() if op["op_name"] == "QUANTIZE"]
    network_input = int8_runner.get_tensor_details()[quantize_ops[0]["outputs"][0]] if quantize_ops else None
    int8_input = (
        {"scale": float(network_input["quantization"][0]), "zero_point": int(network_input["quantization"][1])}
        if network_input
        else None
    )
    notes = [
        f"State: feed `{detector.StreamingDetector.STATE_OUT}` back as `{detector.StreamingDetector.STATE_IN}` on the next buffer;",
        f"start a stream with zeros. The state is the last {cfg.context_samples} input samples (float32).",
        f"Latency: the outputs describe the centre of the buffer {cfg.lookahead_buffers} buffer(s) back: {cfg.latency_samples} samples.",
        "Files: *_int8.tflite (INT8 network, float I/O), *_float.tflite, *.onnx and saved_model/ (float, dynamic batch).",
    ]
    files["header"].write_text(
        header.render(
            NAME,
            _tensor_list(int8_io, input_names, 1, state_pairs),
            _tensor_list(int8_io, output_names, 1, state_pairs),
            cfg.latency_samples,
            notes,
            int8_input,
        )
    )
    report = {
        "model": NAME,
        "checkpoint": str(checkpoint),
        "int8_source": "qat" if qat_net is not None else "post-training quantization",
        "parameters": int(float_net.count_params()),
        "window_samples": cfg.window_samples,
        "context_samples": cfg.context_samples,
        "latency_samples": cfg.latency_samples,
        "n_harmonics": cfg.n_harmonics,
        "pitch_bins": cfg.n_bins,
        "inputs": input_names,
        "outputs": output_names,
        "state": {detector.StreamingDetector.STATE_IN: detector.StreamingDetector.STATE_OUT},
        "sizes_bytes": {k: _size(v) for k, v in files.items()},
        "parity": results,
        "tolerances": {"float_formats": FLOAT_TOLERANCE, "int8": INT8_TOLERANCE},
        "ops": {
            "tflite_float": tflite.op_histogram(float_tflite),
            "tflite_int8": tflite.op_histogram(int8_tflite),
            "onnx": onnx.op_histogram(onnx_bytes),
        },
        "int8_network_fraction": tflite.int8_fraction(int8_tflite),
        "onnx_opset": onnx.OPSET,
        "export_seconds": {k: round(v, 2) for k, v in timings.items()},
        "config": to_dict(exp.model),
    }
    (tmp / "export_report.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    return report


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main(checkpoint: str = "runs/pitch_detector", out: str = f"saved_models/{NAME}", overwrite: bool = False) -> None:
    """Export a trained run to SavedModel, float/INT8 TFLite, ONNX and a C++ header, with parity checks.

    Args:
      checkpoint: the training run folder (config.yaml, float.weights.h5, qat.weights.h5).
      out: the export folder to create.
      overwrite: replace an existing export.
    """
    report = export(checkpoint, out, overwrite)
    for fmt, size in report["sizes_bytes"].items():
        print(f"{fmt:>13}: {size / 1024:8.1f} KiB")
    for fmt, errors in report["parity"].items():
        shown = ", ".join(f"{k}={v:.3g}" for k, v in errors.items() if k != "voiced_frames")
        print(f"parity {fmt}: {shown}")
    print(f"wrote {out}")


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.export")


if __name__ == "__main__":
    cli()

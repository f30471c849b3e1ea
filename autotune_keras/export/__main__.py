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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from autotune_keras import contract
from autotune_keras.cli import run
from autotune_keras.config import PipelineConfig, load, to_dict
from autotune_keras.data.pipeline import make_dataset
from autotune_keras.export import header, onnx, parity, tflite
from autotune_keras.models import detector
from autotune_keras.runtime import STATE_SUFFIX, OnnxRunner, SavedModelRunner, Stream, TFLiteRunner

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


def _windows(exp, split: str, count: int, training: bool, width: int) -> np.ndarray:
    pipeline = load(
        PipelineConfig,
        None,
        overrides=to_dict(exp.pipeline) | {"window_samples": width, "with_targets": False, "batch_size": 16},
    )
    batches = make_dataset(pipeline, split, training=training).take(int(np.ceil(count / 16)))
    return np.concatenate([b["audio"].numpy() for b in batches])[:count]


def _split(windows: np.ndarray, context: int) -> dict[str, np.ndarray]:
    return {NAMES.AUDIO_BUFFER: windows[:, context:], detector.StreamingDetector.STATE_IN: windows[:, :context]}


def _run_each(runner, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rows = [runner({k: v[i : i + 1] for k, v in feeds.items()}) for i in range(len(next(iter(feeds.values()))))]
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def savedmodel_tensor_names(path: Path, signature: str = "serving_default") -> dict[str, str]:
    """Signature key -> graph tensor (``serving_default_audio_buffer:0``, ``StatefulPartitionedCall:1``),
    the names a C / C++ program feeds and fetches through the TensorFlow C API."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    definition = saved.meta_graphs[0].signature_def[signature]
    return {key: info.name for key, info in list(definition.inputs.items()) + list(definition.outputs.items())}


def _tensor_list(
    details: dict[str, dict], names: list[str], batch: int | None, state_pairs: dict[str, str], graph_names: dict[str, str]
) -> list[dict]:
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
                "savedmodel_tensor": graph_names[name],
            }
        )
    return rows


@dataclass
class ExportSpec:
    """What differs between models in the export chain; everything else is shared."""

    name: str
    float_module: tf.Module
    int8_module: tf.Module
    input_names: list[str]
    output_names: list[str]
    feeds: dict[str, np.ndarray]  # the parity batch (state inputs included)
    float_tolerance: dict[str, float]
    int8_tolerance: dict[str, float]
    notes: list[str]
    latency_samples: int
    pitch_output: str | None = None  # compared in cents when given
    representative: list[dict] = field(default_factory=list)  # post-training calibration (no QAT)
    extra_checks: dict = field(default_factory=dict)  # label -> callable(files) -> (errors, tolerance)
    report: dict = field(default_factory=dict)

    @property
    def state_pairs(self) -> dict[str, str]:
        pairs = {name: name + STATE_SUFFIX for name in self.input_names if name + STATE_SUFFIX in self.output_names}
        return pairs | {v: k for k, v in pairs.items()}


def _module_outputs(module: tf.Module, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in module(**{name: tf.constant(value) for name, value in feeds.items()}).items()}


def _compare(spec: ExportSpec, reference: dict, candidate: dict) -> dict[str, float]:
    return parity.compare(
        reference, candidate, spec.pitch_output, contract.PitchDetectorTensors.CONFIDENCE, contract.CONFIDENCE_THRESHOLD
    )


def export_model(spec: ExportSpec, out: Path, qat: bool) -> dict:
    """Write every format of ``spec`` to a temp folder, check parity, write the header and report,
    and rename the folder to ``out``; returns the report."""
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
    tf.saved_model.save(
        spec.float_module, str(files["savedmodel"]), signatures={"serving_default": spec.float_module.concrete_function(None)}
    )
    timings["savedmodel_s"] = time.perf_counter() - started

    started = time.perf_counter()
    float_tflite = tflite.rename_io_tensors(tflite.convert_float(spec.float_module.concrete_function(1), spec.float_module))
    files["tflite_float"].write_bytes(float_tflite)
    if qat:
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
        tf.function(spec.float_module.__call__), spec.float_module.input_signature(None), sorted(spec.output_names)
    )
    files["onnx"].write_bytes(onnx_bytes)
    timings["onnx_s"] = time.perf_counter() - started

    reference_float = _module_outputs(spec.float_module, spec.feeds)
    reference_int8 = _module_outputs(spec.int8_module, spec.feeds)
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
    for label, check in spec.extra_checks.items():
        errors, tolerance = check(files)
        results[label] = errors
        parity.check(label, errors, tolerance)

    int8_io = tflite.io_details(int8_tflite)
    int8_runner = tflite.interpreter(int8_tflite)
    quantize_ops = [op for op in int8_runner._get_ops_details() if op["op_name"] == "QUANTIZE"]
    network_input = int8_runner.get_tensor_details()[quantize_ops[0]["outputs"][0]] if quantize_ops else None
    int8_input = (
        {"scale": float(network_input["quantization"][0]), "zero_point": int(network_input["quantization"][1])}
        if network_input
        else None
    )
    graph_names = savedmodel_tensor_names(files["savedmodel"])
    pairs = spec.state_pairs
    files["header"].write_text(
        header.render(
            name,
            _tensor_list(int8_io, spec.input_names, 1, pairs, graph_names),
            _tensor_list(int8_io, spec.output_names, 1, pairs, graph_names),
            spec.latency_samples,
            spec.notes,
            int8_input,
        )
    )
    report = {
        "model": name,
        "int8_source": "qat" if qat else "post-training quantization",
        "latency_samples": spec.latency_samples,
        "inputs": spec.input_names,
        "outputs": spec.output_names,
        "state": {k: v for k, v in pairs.items() if k in spec.input_names},
        **spec.report,
        "sizes_bytes": {k: _size(v) for k, v in files.items()},
        "parity": results,
        "tolerances": {"float_formats": spec.float_tolerance, "int8": spec.int8_tolerance},
        "ops": {
            "tflite_float": tflite.op_histogram(float_tflite),
            "tflite_int8": tflite.op_histogram(int8_tflite),
            "onnx": onnx.op_histogram(onnx_bytes),
        },
        "int8_network_fraction": tflite.int8_fraction(int8_tflite),
        "onnx_opset": onnx.OPSET,
        "export_seconds": {k: round(v, 2) for k, v in timings.items()},
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


def _parity_windows(exp, width: int) -> np.ndarray:
    """Validation audio windows of ``width`` samples plus silence and a quiet tone."""
    windows = _windows(exp, "validation", 160, training=False, width=width)
    t = np.arange(width) / contract.SAMPLE_RATE
    extra = np.stack([np.zeros(width), 0.001 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    return np.concatenate([windows, extra])


def detector_spec(exp, float_net, qat_net) -> ExportSpec:
    """The pitch detector's export: inputs, parity batch, tolerances, streaming check, notes."""
    cfg = exp.model
    float_module = detector.StreamingDetector(float_net, cfg)
    windows = _parity_windows(exp, cfg.window_samples)
    state_in, state_out = detector.StreamingDetector.STATE_IN, detector.StreamingDetector.STATE_OUT

    def streaming_check(files):
        from autotune_keras.evaluation import buffer_windows

        clip = np.concatenate([windows[0], windows[1], windows[2]])
        streamed = Stream(TFLiteRunner(files["tflite_float"])).run(clip)
        sliding = _module_outputs(float_module, _split(buffer_windows(clip, cfg.context_samples), cfg.context_samples))
        errors = parity.compare(
            {k: v for k, v in sliding.items() if k != state_out},
            streamed,
            NAMES.PITCH,
            NAMES.CONFIDENCE,
            contract.CONFIDENCE_THRESHOLD,
        )
        return errors, {"pitch_cents_p95": 1.0, "confidence_max_abs": 1e-4}

    representative = [] if qat_net is not None else [
        _split(w[None, :], cfg.context_samples) for w in _windows(exp, "train", 256, training=True, width=cfg.window_samples)
    ]  # fmt: skip
    return ExportSpec(
        name=NAME,
        float_module=float_module,
        int8_module=detector.StreamingDetector(qat_net or float_net, cfg),
        input_names=[NAMES.AUDIO_BUFFER, state_in],
        output_names=[NAMES.PITCH, NAMES.CONFIDENCE, NAMES.HARMONICS, state_out],
        feeds=_split(windows, cfg.context_samples),
        float_tolerance=FLOAT_TOLERANCE,
        int8_tolerance=INT8_TOLERANCE,
        notes=[
            f"State: feed `{state_out}` back as `{state_in}` on the next buffer;",
            f"start a stream with zeros. The state is the last {cfg.context_samples} input samples (float32).",
            f"Latency: the outputs describe the centre of the buffer {cfg.lookahead_buffers} buffer(s) back: {cfg.latency_samples} samples.",
            "Files: *_int8.tflite (INT8 network, float I/O), *_float.tflite, *.onnx and saved_model/ (float, dynamic batch).",
        ],
        latency_samples=cfg.latency_samples,
        pitch_output=NAMES.PITCH,
        representative=representative,
        extra_checks={"tflite_float_streaming": streaming_check},
        report={
            "parameters": int(float_net.count_params()),
            "window_samples": cfg.window_samples,
            "context_samples": cfg.context_samples,
            "n_harmonics": cfg.n_harmonics,
            "pitch_bins": cfg.n_bins,
            "config": to_dict(cfg),
        },
    )


def corrector_spec(exp, float_net, qat_net, corrector_run: Path | None = None, corrector_exp=None) -> ExportSpec:
    """The pitch corrector's export: the detector network inside the streaming resampling core,
    with the learned envelope taps of ``corrector_run`` (whose experiment is ``corrector_exp``;
    none: default config, zero taps, no envelope correction)."""
    from autotune_keras.models.corrector import CorrectorConfig, StreamingCorrector

    names = contract.PitchCorrectorTensors
    cfg = corrector_exp.model if corrector_exp is not None else CorrectorConfig()
    taps = None
    if corrector_run is not None:
        from autotune_keras.train_corrector import envelope_taps

        taps = envelope_taps(corrector_run)

    def variable() -> tf.Variable | None:
        return None if taps is None else tf.Variable(taps, name="envelope_taps")

    float_module = StreamingCorrector(float_net, exp.model, cfg, envelope_taps=variable())
    windows = _parity_windows(exp, cfg.history_samples + contract.BUFFER_SIZE)
    rng = np.random.default_rng(0)
    count = len(windows)
    feeds = {
        names.AUDIO_BUFFER: windows[:, cfg.history_samples :],
        names.TARGET_PITCH: (110.0 * 2 ** (rng.integers(0, 36, (count, 1)) / 12)).astype(np.float32),
        names.CORRECTION_STRENGTH: rng.uniform(0, 1, (count, 1)).astype(np.float32),
        "audio_state": windows[:, : cfg.history_samples],
        "read_offset": rng.uniform(-cfg.unvoiced_period, 600, (count, 1)).astype(np.float32),
        "log2_ratio": rng.uniform(-0.1, 0.1, (count, 1)).astype(np.float32),
    }

    def streaming_check(files):
        """A detuned tone streamed through the float TFLite (runtime state feedback) against the
        Keras module stepped by hand; and strength 0 must reproduce the input exactly."""
        t = np.arange(40 * contract.BUFFER_SIZE) / contract.SAMPLE_RATE
        tone = (0.3 * np.sin(2 * np.pi * 228.0 * t) + 0.1 * np.sin(2 * np.pi * 456.0 * t)).astype(np.float32)
        errors = {}
        for strength in (1.0, 0.0):
            controls = {
                names.TARGET_PITCH: np.array([[220.0]], np.float32),
                names.CORRECTION_STRENGTH: np.array([[strength]], np.float32),
            }
            stream = Stream(TFLiteRunner(files["tflite_float"]))
            state = {k: np.zeros_like(v) for k, v in stream.state.items()}
            streamed, stepped = [], []
            for buffer in tone.reshape(-1, contract.BUFFER_SIZE):
                streamed.append(stream.process(buffer, **controls)[names.CORRECTED_AUDIO])
                out = _module_outputs(float_module, {names.AUDIO_BUFFER: buffer[None]} | controls | state)
                state = {k: out[k + STATE_SUFFIX] for k in state}
                stepped.append(out[names.CORRECTED_AUDIO][0])
            key = "strength_1" if strength else "strength_0"
            errors[f"{key}_stream_vs_keras_max_abs"] = float(np.max(np.abs(np.concatenate(streamed) - np.concatenate(stepped))))
        passthrough = np.concatenate(streamed)[cfg.start_delay :] - tone[: len(tone) - cfg.start_delay]
        errors["strength_0_vs_delayed_input_max_abs"] = float(np.max(np.abs(passthrough)))
        tolerance = {
            "strength_1_stream_vs_keras_max_abs": 1e-3,
            "strength_0_stream_vs_keras_max_abs": 1e-5,
            "strength_0_vs_delayed_input_max_abs": 1e-6,
        }
        return errors, tolerance

    state_names = list(StreamingCorrector.STATE)
    return ExportSpec(
        name="pitch_corrector",
        float_module=float_module,
        int8_module=StreamingCorrector(qat_net or float_net, exp.model, cfg, envelope_taps=variable()),
        input_names=[*names.INPUTS, *state_names],
        output_names=[*names.OUTPUTS, *(n + STATE_SUFFIX for n in state_names)],
        feeds=feeds,
        float_tolerance={"corrected_audio_max_abs": 1e-3, "confidence_max_abs": 1e-4, "audio_state_out_max_abs": 0.0},
        int8_tolerance={"confidence_max_abs": 0.15, "audio_state_out_max_abs": 0.0},
        notes=[
            "State: feed every `X_out` back as `X` on the next buffer; start a stream with zeros.",
            f"`audio_state`: the last {cfg.history_samples} input samples; `read_offset`: read head delay minus the start delay;",
            "`log2_ratio`: pitch ratio reached at the end of the last buffer, in octaves.",
            f"Latency: {cfg.start_delay} samples while passing audio through (strength 0, unvoiced); while correcting",
            f"the delay moves by whole periods between {cfg.min_delay} and {cfg.min_delay} + 2 periods + a buffer.",
            "target_pitch: Hz (0 or unvoiced input: no correction); correction_strength: 0..1.",
        ],
        latency_samples=cfg.start_delay,
        extra_checks={"tflite_float_streaming": streaming_check},
        report={
            "parameters": int(float_net.count_params()) + cfg.envelope_taps,
            "detector_config": to_dict(exp.model),
            "config": to_dict(cfg),
            "corrector_run": str(corrector_run) if corrector_run else None,
        },
    )


EXPORTERS = {NAME: detector_spec, "pitch_corrector": corrector_spec}


def export(checkpoint: str | Path, out: str | Path, overwrite: bool = False, model: str = NAME) -> dict:
    """Export, verify and report; returns the report."""
    checkpoint, out = Path(checkpoint), Path(out)
    if model not in EXPORTERS:
        raise ValueError(f"--model {model}: expected one of {', '.join(EXPORTERS)}")
    corrector = {}  # a corrector run (learned taps) names the detector run it was trained around
    if model == "pitch_corrector" and (checkpoint / "config.yaml").is_file():
        from autotune_keras.train import config_task

        if config_task(checkpoint / "config.yaml") == "pitch_corrector":
            from autotune_keras.train_corrector import load_experiment as load_corrector_experiment

            corrector_exp = load_corrector_experiment(checkpoint / "config.yaml")
            corrector = {"corrector_run": checkpoint, "corrector_exp": corrector_exp}
            checkpoint = Path(corrector_exp.detector_run)
    if not (checkpoint / "float.weights.h5").is_file():
        raise FileNotFoundError(f"{checkpoint}: no float.weights.h5; train first (python -m autotune_keras.train)")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; pass --overwrite to replace it")
    exp, float_net, qat_net = _load_networks(checkpoint)
    spec = EXPORTERS[model](exp, float_net, qat_net, **corrector)
    spec.report = {"checkpoint": str(corrector.get("corrector_run", checkpoint))} | spec.report
    return export_model(spec, out, qat=qat_net is not None)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main(checkpoint: str = "runs/pitch_detector", out: str | None = None, overwrite: bool = False, model: str = NAME) -> None:
    """Export a trained run to SavedModel, float/INT8 TFLite, ONNX and a C++ header, with parity checks.

    Args:
      checkpoint: the training run folder: a detector run (config.yaml, float.weights.h5,
        qat.weights.h5), or for the corrector its run (runs/pitch_corrector: learned taps, and
        the detector run it names).
      out: the export folder to create (default saved_models/<model>).
      overwrite: replace an existing export.
      model: pitch_detector, or pitch_corrector (the detector network guiding the resampling core).
    """
    out = out or f"saved_models/{model}"
    report = export(checkpoint, out, overwrite, model)
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

"""TFLite conversion: float, and INT8 with float pre/post-processing, tensors named by contract."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf

# Ops of the streaming wrapper around the network (state concat, RMS normalisation, CREPE decoding)
# stay float: in INT8 they would cost the state its precision and the pitch its cents.
FLOAT_OPS = (
    "CONCATENATION", "STRIDED_SLICE", "SQUARE", "MEAN", "SQRT", "MAXIMUM", "DIV", "MUL", "SUM", "ADD",
    "SUB", "ABS", "LESS_EQUAL", "CAST", "EXP", "ARG_MAX", "GATHER", "REDUCE_MIN", "SELECT", "SELECT_V2", "NOT_EQUAL", "MINIMUM", "LESS",
)  # fmt: skip


def convert_float(function, module: tf.Module) -> bytes:
    """Float32 TFLite of a concrete function, builtin ops only."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def convert_int8(function, module: tf.Module, representative: Callable[[], Iterable[dict]]) -> bytes:
    """INT8 network (weights and activations) with float inputs/outputs and float wrapper ops.

    Calibrated on ``representative`` (dicts of the function's inputs); the wrapper ops listed in
    :data:`FLOAT_OPS` are kept float by TFLite's selective quantization.
    """
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(FLOAT_OPS))
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=representative, debug_options=options)
    return debugger.get_nondebug_quantized_model()


def convert_qat(function, module: tf.Module) -> bytes:
    """INT8 TFLite of a quantization-aware model: the ranges learned by the fake-quant nodes
    quantize the network; ops outside it (the wrapper) have no ranges and stay float."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def rename_io_tensors(model: bytes) -> bytes:
    """Give each signature input/output tensor its signature name (``audio_buffer``, ``pitch``...)
    instead of ``serving_default_audio_buffer:0`` / ``StatefulPartitionedCall:1``."""
    from tensorflow.lite.tools import flatbuffer_utils

    parsed = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    subgraph = parsed.subgraphs[0]
    for signature in parsed.signatureDefs:
        named: dict[int, str] = {}
        for item in list(signature.inputs) + list(signature.outputs):
            name = item.name.decode() if isinstance(item.name, bytes) else item.name
            if item.tensorIndex in named:
                raise ValueError(
                    f"outputs {named[item.tensorIndex]!r} and {name!r} are one tensor in TFLite, which cannot name it twice; "
                    "return distinct tensors"
                )
            named[item.tensorIndex] = name
            subgraph.tensors[item.tensorIndex].name = item.name
    return bytes(flatbuffer_utils.convert_object_to_bytearray(parsed))


def interpreter(model: bytes | str, threads: int = 1):
    """A LiteRT interpreter (ai_edge_litert) with tensors allocated."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    runner = Interpreter(num_threads=threads, **kwargs)
    runner.allocate_tensors()
    return runner


def op_histogram(model: bytes) -> dict[str, int]:
    """How many of each op the model holds (delegate nodes excluded)."""
    ops = Counter(op["op_name"] for op in interpreter(model)._get_ops_details() if op["op_name"] != "DELEGATE")
    return dict(sorted(ops.items()))


def io_details(model: bytes) -> dict[str, dict]:
    """Name -> dtype, shape and (scale, zero point) of every input and output tensor."""
    runner = interpreter(model)
    out = {}
    for detail in runner.get_input_details() + runner.get_output_details():
        scale, zero_point = detail["quantization"]
        out[detail["name"]] = {
            "dtype": np.dtype(detail["dtype"]).name,
            "shape": detail["shape_signature"].tolist(),
            "scale": float(scale),
            "zero_point": int(zero_point),
        }
    return out


def int8_fraction(model: bytes) -> float:
    """Share of the network's MAC ops (conv / depthwise / fully connected) that run in INT8."""
    runner = interpreter(model)
    tensors = runner.get_tensor_details()
    heavy = [op for op in runner._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    int8 = [op for op in heavy if np.dtype(tensors[op["inputs"][0]]["dtype"]) == np.int8]
    return len(int8) / max(len(heavy), 1)

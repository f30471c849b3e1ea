"""ONNX export with tf2onnx (from the float model), inputs/outputs named by contract."""

from __future__ import annotations

import tensorflow as tf

OPSET = 17


def convert(function_for_signature, input_signature: list[tf.TensorSpec], output_names: list[str], opset: int = OPSET) -> bytes:
    """ONNX bytes of a tf.function with a dynamic batch dimension."""
    import onnx
    import tf2onnx

    model, _ = tf2onnx.convert.from_function(function_for_signature, input_signature=input_signature, opset=opset)
    graph = model.graph
    if len(graph.output) != len(output_names):
        raise ValueError(f"ONNX graph has {len(graph.output)} outputs, expected {output_names}")
    renames = {old.name: new for old, new in zip(graph.output, output_names, strict=True)}
    for node in graph.node:
        node.output[:] = [renames.get(name, name) for name in node.output]
    for output in graph.output:
        output.name = renames[output.name]
    onnx.checker.check_model(model)
    return model.SerializeToString()


def op_histogram(model: bytes) -> dict[str, int]:
    """How many of each op type the ONNX graph holds."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load_from_string(model).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))

"""ONNX export with tf2onnx (from the float model), inputs/outputs named by contract."""

from __future__ import annotations

import numpy as np
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
    native_dft(model)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def native_dft(model) -> int:
    """Replace tf2onnx's RFFT-as-matrix-product with ONNX's own DFT op, in place; returns how many.

    tf2onnx writes ``rfft(x)`` (and ``rfft(pad(x))``) as ``MatMul(dft, Transpose(x))`` with a float
    DFT matrix ``[2, bins, fft_length]`` (2 MB for the detector's 1024-point RFFT). ``DFT``
    (opset 17, one-sided, zero-padding to ``dft_length`` itself) computes the same without the
    matrix; a Transpose restores the MatMul's ``[2, bins, batch]`` layout. Only a matrix that is
    verifiably the real DFT is replaced.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    replaced = 0
    for matmul in list(graph.node):
        dft = initializers.get(matmul.input[0]) if matmul.op_type == "MatMul" else None
        transpose = producers.get(matmul.input[1]) if dft is not None else None
        if transpose is None or transpose.op_type != "Transpose":
            continue
        if [list(a.ints) for a in transpose.attribute if a.name == "perm"] != [[1, 0]]:
            continue
        matrix = numpy_helper.to_array(dft)
        if matrix.ndim != 3 or matrix.shape[0] != 2 or matrix.shape[1] != matrix.shape[2] // 2 + 1:
            continue
        length = matrix.shape[2]
        angle = 2 * np.pi * np.outer(np.arange(matrix.shape[1]), np.arange(length)) / length
        if not (np.allclose(matrix[0], np.cos(angle), atol=1e-4) and np.allclose(matrix[1], -np.sin(angle), atol=1e-4)):
            continue
        source = transpose.input[0]
        pad = producers.get(source)
        if pad is not None and pad.op_type == "Pad" and _pads_only_the_end(pad, initializers):
            source = pad.input[0]  # DFT zero-pads to dft_length itself
        prefix = f"{matmul.name or matmul.output[0]}_dft"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array([2], np.int64), f"{prefix}_axes"),
                numpy_helper.from_array(np.array(length, np.int64), f"{prefix}_length"),
            ]
        )
        nodes = [
            helper.make_node("Unsqueeze", [source, f"{prefix}_axes"], [f"{prefix}_signal"], name=f"{prefix}_unsqueeze"),
            helper.make_node(
                "DFT", [f"{prefix}_signal", f"{prefix}_length"], [f"{prefix}_spectrum"], name=prefix, axis=1, onesided=1
            ),
            helper.make_node("Transpose", [f"{prefix}_spectrum"], [matmul.output[0]], name=f"{prefix}_layout", perm=[2, 1, 0]),
        ]
        index = list(graph.node).index(matmul)
        graph.node.remove(matmul)
        for offset, node in enumerate(nodes):
            graph.node.insert(index + offset, node)
        replaced += 1
    if replaced:
        _drop_unused(graph)
    return replaced


def _pads_only_the_end(pad, initializers) -> bool:
    from onnx import numpy_helper

    if len(pad.input) < 2 or pad.input[1] not in initializers:
        return False
    pads = numpy_helper.to_array(initializers[pad.input[1]])
    rank = len(pads) // 2
    mode = [a.s for a in pad.attribute if a.name == "mode"]
    constant = numpy_helper.to_array(initializers[pad.input[2]]) if len(pad.input) > 2 and pad.input[2] in initializers else 0
    return mode in ([], [b"constant"]) and not np.any(constant != 0) and not np.any(pads[: 2 * rank - 1] != 0)


def _drop_unused(graph) -> None:
    """Remove nodes whose outputs nothing reads (and graph outputs don't name), then unused initializers."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for node in graph.node for name in node.input} | outputs
        dead = [node for node in graph.node if not any(out in used for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for init in [init for init in graph.initializer if init.name not in used]:
        graph.initializer.remove(init)


def op_histogram(model: bytes) -> dict[str, int]:
    """How many of each op type the ONNX graph holds."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load_from_string(model).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))

"""The one streaming loop: buffers through a runner with every state tensor fed back, exactly as
an engine's audio callback runs a model. Everything that streams (detect, correct, evaluate,
benchmark, realtime, the exporter's checks) calls :func:`stream`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autotune_keras import contract

Controls = dict[str, np.ndarray] | Callable[[int, np.ndarray], dict[str, np.ndarray]] | None


class Stream:
    """One stream through a runner: buffer size, audio input and state pairs come from the
    runner's signature (its export report, or its tensors)."""

    def __init__(self, runner, signature: contract.Signature | None = None):
        self.runner = runner
        self.signature = signature or runner.signature
        self.audio_input = self.signature.audio_input
        self.buffer_size = int(runner.inputs[self.audio_input][-1])
        self.state_pairs = self.signature.state_pairs
        self.reset()

    def reset(self) -> None:
        """Zero every state (the start of a new stream)."""
        self.state = {name: np.zeros((1, *self.runner.inputs[name][1:]), np.float32) for name in self.state_pairs}
        if hasattr(self.runner, "reset"):
            self.runner.reset()

    def control_feeds(self) -> dict[str, np.ndarray]:
        """Constant contract.CONTROL_DEFAULTS (else 0) for the inputs that are neither audio nor state."""
        return {
            name: np.broadcast_to(np.asarray(contract.CONTROL_DEFAULTS.get(name, 0.0), np.float32), (1, *shape[1:])).copy()
            for name, shape in self.runner.inputs.items()
            if name != self.audio_input and name not in self.state_pairs
        }

    def process(self, buffer: np.ndarray, **controls: np.ndarray) -> dict[str, np.ndarray]:
        """Run one buffer; returns the non-state outputs with the batch axis removed."""
        feeds = {self.audio_input: np.asarray(buffer, np.float32).reshape(1, -1), **self.state, **controls}
        outputs = self.runner(feeds)
        for name, out in self.state_pairs.items():
            self.state[name] = outputs[out]
        state_outputs = set(self.state_pairs.values())
        return {k: v[0] for k, v in outputs.items() if k not in state_outputs}


@dataclass
class StreamResult:
    """Per-buffer outputs (stacked, batch axis removed) and, when timed, what each call cost."""

    outputs: dict[str, np.ndarray]
    buffers: int
    latency_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


def stream(
    target,
    audio: np.ndarray,
    controls: Controls = None,
    *,
    reset: bool = True,
    timed: bool = False,
    paced: bool = False,
    progress: str | None = None,
) -> StreamResult:
    """Stream ``audio`` through ``target`` (a :class:`Stream` or a runner) buffer by buffer; the
    last partial buffer is zero-padded.

    ``controls``: constant feeds, or ``controls(index, buffer) -> feeds`` per buffer (defaults:
    contract.CONTROL_DEFAULTS). ``timed``: wall time of each call. ``paced``: one buffer per buffer
    period, as an audio callback (implies timed). ``progress``: a tqdm label.
    """
    from tqdm import tqdm

    streamer = target if isinstance(target, Stream) else Stream(target)
    if reset:
        streamer.reset()
    size = streamer.buffer_size
    audio = np.asarray(audio, np.float32)
    n = int(np.ceil(len(audio) / size))
    padded = np.zeros(n * size, np.float32)
    padded[: len(audio)] = audio
    constant = streamer.control_feeds() if controls is None else controls if isinstance(controls, dict) else None
    timed = timed or paced
    latency = np.empty(n if timed else 0)
    period = size / contract.SAMPLE_RATE
    results = []
    cpu_started, wall_started = time.thread_time(), time.perf_counter()
    deadline = wall_started
    for i in tqdm(range(n), unit="buffer", desc=progress, disable=progress is None, mininterval=1.0, leave=False):
        buffer = padded[i * size : (i + 1) * size]
        feeds = constant if constant is not None else controls(i, buffer)
        if timed:
            started = time.perf_counter()
            results.append(streamer.process(buffer, **feeds))
            latency[i] = (time.perf_counter() - started) * 1e3
        else:
            results.append(streamer.process(buffer, **feeds))
        if paced:
            deadline += period
            pause = deadline - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    outputs = {k: np.stack([r[k] for r in results]) for k in results[0]} if results else {}
    return StreamResult(outputs, n, latency, time.thread_time() - cpu_started, time.perf_counter() - wall_started)

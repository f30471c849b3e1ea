"""Optional causal smoothing of a detector's per-buffer output, as an engine would run it after
the model: hysteresis on voicing and a short running median on pitch. No look-ahead: each buffer
is decided from it and the ones before it.

A detection starts once confidence has reached ``on`` for ``start`` buffers in a row (a single
confident buffer is no note) and ends when confidence falls below ``off``. While voiced the
confidence reported is at least ``on`` and the pitch is the median of the last ``median`` pitches;
while unvoiced the confidence reported stays under ``on``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autotune_keras import contract


@dataclass
class CausalSmoother:
    """Hysteresis on voicing, running median on pitch; ``step`` one buffer at a time."""

    on: float = contract.CONFIDENCE_THRESHOLD
    off: float = 0.5
    start: int = 2  # buffers at or above `on` before a detection starts (adds start - 1 buffers of delay)
    median: int = 3  # buffers in the pitch median (a jump shows after median // 2 + 1 buffers)
    voiced: bool = field(default=False, init=False)
    _run: int = field(default=0, init=False)
    _history: list = field(default_factory=list, init=False)

    def reset(self) -> None:
        """A new stream."""
        self.voiced, self._run, self._history = False, 0, []

    def step(self, pitch: float, confidence: float) -> tuple[float, float]:
        """(pitch, confidence) of one buffer after smoothing."""
        self._run = self._run + 1 if confidence >= self.on else 0
        if not self.voiced and self._run >= self.start:
            self.voiced, self._history = True, []
        elif self.voiced and confidence < self.off:
            self.voiced = False
        if not self.voiced:
            return pitch, min(confidence, np.nextafter(self.on, 0.0))
        self._history = (self._history + [np.log2(max(pitch, 1e-3))])[-self.median :]
        return float(2.0 ** np.median(self._history)), max(confidence, self.on)


def smooth_track(pitch: np.ndarray, confidence: np.ndarray, smoother: CausalSmoother | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A whole per-buffer track through a fresh smoother (still causal: buffer by buffer)."""
    smoother = smoother or CausalSmoother()
    smoother.reset()
    out = [smoother.step(float(p), float(c)) for p, c in zip(np.ravel(pitch), np.ravel(confidence), strict=True)]
    return np.array([p for p, _ in out]), np.array([c for _, c in out])

"""The classical real-time autotune the neural corrector is measured against (numpy, streaming).

As zita-at1 / x42 fat1 do it: the output is read from a delay line at the pitch ratio
``r = (target / detected) ** strength`` (resampling, 4-point cubic interpolation). Reading faster
than writing (r > 1) empties the delay, slower fills it; whenever the delay leaves its window the
read head jumps by one pitch period, where the waveform repeats, and the old and new heads are
crossfaded over up to a period, so no discontinuity reaches the output. The ratio applied to each
sample is the one detected for the input sample being read (ratios are remembered per input
position), so note changes are corrected where they happen in the delayed signal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotune_keras import contract, music

RING = 1 << 13  # delay-line length (samples); > max delay + max period
MIN_DELAY = 96  # samples between the write head and the read head, at least (crossfade safety)
UNVOICED_PERIOD = 256  # jump size when no pitch is known
MAX_PERIOD = int(contract.SAMPLE_RATE / contract.PITCH_MIN_HZ) + 1
MAX_DELAY = MIN_DELAY + 2 * MAX_PERIOD  # uncorrected audio passes with a constant delay up to this
START_DELAY = MIN_DELAY + UNVOICED_PERIOD  # the delay of a fresh stream (its reported latency)
MAX_RATIO = 2.0  # at most an octave per buffer either way


def correction_ratio(detected_hz: float, target_hz: float, strength: float) -> float:
    """Playback ratio that moves ``detected_hz`` ``strength`` of the way (in cents) to ``target_hz``."""
    if detected_hz <= 0 or target_hz <= 0:
        return 1.0
    ratio = float(music.blend_pitch(detected_hz, target_hz, strength)) / detected_hz
    return float(np.clip(ratio, 1.0 / MAX_RATIO, MAX_RATIO))


def _cubic(ring: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of the ring buffer at absolute sample positions."""
    base = np.floor(position).astype(np.int64)
    t = position - base
    p0, p1, p2, p3 = (ring[(base + k) & (RING - 1)] for k in (-1, 0, 1, 2))
    return p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0)))


class ResamplingAutotune:
    """Streaming pitch-synchronous resampler with crossfaded period jumps (one instance per stream)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Empty delay line, unit ratio."""
        self.ring = np.zeros(RING, np.float64)
        self.written = 0  # absolute index of the next input sample
        self.read = -float(START_DELAY)  # absolute read position
        self.fade_from: float | None = None  # old read head during a crossfade
        self.fade_done = 0
        self.fade_length = 0
        self.history_pos = np.array([-1.0, 0.0])  # input positions with known ratio / period
        self.history_ratio = np.array([1.0, 1.0])
        self.history_period = np.array([UNVOICED_PERIOD, UNVOICED_PERIOD], np.float64)

    @property
    def latency_samples(self) -> float:
        """Current delay between input and output."""
        return self.written - self.read

    def _remember(self, centre: float, ratio: float, period: float) -> None:
        keep = self.history_pos > self.written - RING
        self.history_pos = np.append(self.history_pos[keep], centre)
        self.history_ratio = np.append(self.history_ratio[keep], ratio)
        self.history_period = np.append(self.history_period[keep], period)

    def process(self, buffer: np.ndarray, detected_hz: float, target_hz: float, strength: float) -> np.ndarray:
        """One buffer in, one buffer out. ``detected_hz`` <= 0 means unvoiced (no correction)."""
        buffer = np.asarray(buffer, np.float64)
        n = len(buffer)
        start = self.written
        index = (start + np.arange(n)) & (RING - 1)
        self.ring[index] = buffer
        self.written += n
        voiced = detected_hz > 0
        period = contract.SAMPLE_RATE / detected_hz if voiced else UNVOICED_PERIOD
        self._remember(start + n / 2, correction_ratio(detected_hz, target_hz, strength), period)
        out = np.empty(n)
        done = 0
        while done < n:
            done += self._render(out, done, start)
        return out.astype(np.float32)

    def _render(self, out: np.ndarray, offset: int, start: int) -> int:
        """Render from ``offset`` up to the next jump (or the buffer end); returns samples rendered."""
        n = len(out) - offset
        ratio = np.interp(self.read + np.arange(n), self.history_pos, self.history_ratio)
        positions = self.read + np.concatenate([[0.0], np.cumsum(ratio[:-1])])
        delay = (start + offset + np.arange(n)) - positions
        period = float(np.interp(self.read, self.history_pos, self.history_period))
        # correcting: keep the delay within two periods (least time warp); passing through
        # (ratio 1): never jump while the delay is usable, so strength 0 is bit-exact
        correcting = np.any(ratio != 1.0)
        low, high = MIN_DELAY, (MIN_DELAY + 2 * period) if correcting else MAX_DELAY
        outside = np.flatnonzero((delay < low) | (delay > high))
        count = n if len(outside) == 0 else max(int(outside[0]), 1)
        positions, ratio = positions[:count], ratio[:count]
        segment = _cubic(self.ring, positions)
        if self.fade_from is not None:
            old = self.fade_from + (positions - positions[0])
            steps = self.fade_done + np.arange(count)
            gain = 0.5 - 0.5 * np.cos(np.pi * np.minimum(steps / self.fade_length, 1.0))
            segment = gain * segment + (1 - gain) * _cubic(self.ring, old)
            self.fade_done += count
            self.fade_from = old[-1] + ratio[-1]
            if self.fade_done >= self.fade_length:
                self.fade_from = None
        out[offset : offset + count] = segment
        self.read = float(positions[-1] + ratio[-1])
        if len(outside):
            self._jump(start + offset + count, period, float(ratio[-1]), high)
        return count

    def _jump(self, now: int, period: float, ratio: float, high: float) -> None:
        """Move the read head by whole periods back into its window, crossfading from the old one."""
        delay = now - self.read
        shift = 0.0
        while delay + shift < MIN_DELAY:
            shift += period
        while delay + shift > high:
            shift -= period
        if shift == 0.0:
            return
        self.fade_from = self.read if self.fade_from is None else self.fade_from
        self.fade_done = 0
        # the old head keeps reading at `ratio`: when faster than the input it must not overtake it
        overtake = (MIN_DELAY - 4) / max(ratio - 1.0, 1e-6)
        self.fade_length = int(np.clip(min(period, overtake), 16, 512))
        self.read -= shift


DETECTED_PITCH = "detected_pitch"  # the baseline's extra input: the pitch an external detector found (Hz, 0 unvoiced)


class BaselineRunner:
    """The DSP autotune behind the runner interface (``inputs``, ``outputs``, ``signature``,
    ``__call__``, ``reset``), so it streams through engine.stream like an exported corrector.
    Its state lives in the object, not in tensors."""

    def __init__(self) -> None:
        names = contract.PitchCorrectorTensors
        self.path = Path("dsp_baseline")
        self.engine = ResamplingAutotune()
        self.inputs = {
            names.AUDIO_BUFFER: (1, contract.BUFFER_SIZE),
            names.TARGET_PITCH: (1, 1),
            names.CORRECTION_STRENGTH: (1, 1),
            DETECTED_PITCH: (1, 1),
        }
        self.outputs = [names.CORRECTED_AUDIO]
        self.signature = contract.Signature(
            model="dsp_baseline",
            audio_input=names.AUDIO_BUFFER,
            buffer_size=contract.BUFFER_SIZE,
            inputs=tuple(self.inputs),
            outputs=tuple(self.outputs),
        )
        self.latency_samples = START_DELAY

    def reset(self) -> None:
        """A fresh stream."""
        self.engine.reset()

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = contract.PitchCorrectorTensors
        out = self.engine.process(
            feeds[names.AUDIO_BUFFER][0],
            float(feeds[DETECTED_PITCH][0, 0]),
            float(feeds[names.TARGET_PITCH][0, 0]),
            float(feeds[names.CORRECTION_STRENGTH][0, 0]),
        )
        return {names.CORRECTED_AUDIO: out[None, :]}


def correct_audio(audio: np.ndarray, detected_hz: np.ndarray, target_hz: np.ndarray, strength: float | np.ndarray) -> np.ndarray:
    """Whole-signal convenience: one (detected, target) pair per 512-sample buffer."""
    from autotune_keras.engine.stream import stream

    names = contract.PitchCorrectorTensors
    strengths = np.broadcast_to(np.asarray(strength, np.float64), (int(np.ceil(len(audio) / contract.BUFFER_SIZE)),))

    def controls(i: int, _buffer: np.ndarray) -> dict[str, np.ndarray]:
        return {
            DETECTED_PITCH: np.array([[detected_hz[i]]], np.float32),
            names.TARGET_PITCH: np.array([[target_hz[i]]], np.float32),
            names.CORRECTION_STRENGTH: np.array([[strengths[i]]], np.float32),
        }

    result = stream(BaselineRunner(), audio, controls)
    return result.outputs[names.CORRECTED_AUDIO].reshape(-1)[: len(audio)]

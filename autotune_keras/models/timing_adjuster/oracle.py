"""An onset network that knows the answer: the time warp's ceiling, and its tests.

Put in the streaming graph in place of the onset network, it gives a logit spike at each true
onset among the hops a call analyses, so what comes out is the time warp's doing alone
(tools/timing_ceiling.py measures that ceiling; tests check the warp with it).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from autotune_keras.models.timing_adjuster.network import TimingConfig


class TrueOnsets:
    """Stands in for the onset network of a stream called once per sequence, in order, from its
    first sample: logits +10 at the hops holding ``onsets`` (samples), -10 elsewhere."""

    def __init__(self, onsets: np.ndarray, cfg: TimingConfig):
        self.onsets, self.cfg, self.calls = np.asarray(onsets), cfg, 0

    def __call__(self, features: tf.Tensor, training: bool = False) -> tf.Tensor:
        cfg = self.cfg
        window_start = (self.calls + 1) * cfg.sequence - cfg.window_samples
        self.calls += 1
        logits = np.full((1, cfg.analysed_frames), -10.0, np.float32)
        frames = (self.onsets - window_start) // cfg.hop - cfg.first_analysed
        logits[0, frames[(frames >= 0) & (frames < cfg.analysed_frames)]] = 10.0
        return tf.constant(logits)

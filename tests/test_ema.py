"""Weights averaged over training steps: judged and kept, without changing what training does."""

from __future__ import annotations

import numpy as np
import pytest

from autotune_keras.ema import adam
from autotune_keras.tfk import keras
from autotune_keras.training import keras_callbacks


class _LastStepWeights(keras.callbacks.Callback):
    """The weights after each epoch's last training step (what training continues from)."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps, self.weights = steps, []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch == self.steps - 1:
            self.weights.append([w.copy() for w in self.model.get_weights()])


def _train(run_dir, ema_momentum: float):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.3 * rng.normal(size=(256, 1))).astype("float32")
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(16, activation="relu")(inputs)))
    model.compile(optimizer=adam(0.05, ema_momentum), loss="mse")
    steps = 8
    recorder = _LastStepWeights(steps)
    callbacks = keras_callbacks(run_dir, "", monitor="val_loss", mode="min", patience=10) + [recorder]
    history = model.fit(x, y, batch_size=32, epochs=4, steps_per_epoch=steps, validation_data=(x[:64], y[:64]),
                        callbacks=callbacks, verbose=0, shuffle=False)  # fmt: skip
    return model, history.history, recorder.weights, (x[:64], y[:64])


def test_averaged_weights_are_judged_and_kept_while_training_follows_its_own_path(tmp_path):
    plain, _, plain_steps, _ = _train(tmp_path / "plain", 0.0)
    averaged, history, averaged_steps, (x, y) = _train(tmp_path / "ema", 0.8)
    # the average never feeds back: training takes exactly the same steps
    for a, b in zip(plain_steps, averaged_steps, strict=True):
        for wa, wb in zip(a, b, strict=True):
            np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    # the weights kept are the best epoch's average, the ones its validation loss was measured on
    best = int(np.argmin(history["val_loss"]))
    assert averaged.evaluate(x, y, verbose=0) == pytest.approx(history["val_loss"][best], rel=1e-4)
    kept = averaged.get_weights()
    assert not all(np.allclose(k, s) for k, s in zip(kept, averaged_steps[best], strict=True))
    saved = keras.models.clone_model(averaged)
    saved.load_weights(str(tmp_path / "ema" / "best.weights.h5"))
    for k, s in zip(kept, saved.get_weights(), strict=True):
        np.testing.assert_allclose(k, s)

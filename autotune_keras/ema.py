"""Weights averaged over training steps (an exponential moving average, as Polyak averaging):
the optimizer keeps the average, a callback swaps it in wherever an epoch is judged and saved."""

from __future__ import annotations

from autotune_keras.tfk import keras


def adam(learning_rate, ema_momentum: float = 0.0):
    """Adam; with ``ema_momentum`` > 0 it also keeps an exponential moving average of the trainable
    weights per step (tf_keras ``use_ema``), which :class:`SwapEMAWeights` puts in for judging."""
    if ema_momentum > 0:
        return keras.optimizers.Adam(learning_rate, use_ema=True, ema_momentum=ema_momentum)
    return keras.optimizers.Adam(learning_rate)


class SwapEMAWeights(keras.callbacks.Callback):
    """Exchange the model's trainable weights with the optimizer's moving average of them (tf_keras
    ``use_ema``; Keras 3 ships a callback of this name). ``swap_in`` (first in the list): from the
    epoch's validation pass to the end of the epoch, so the validation loss, the evaluators, the
    checkpoints and early stopping all see the averaged weights. ``swap_in=False`` (after them): back
    to the weights training continues from, before BackupAndRestore saves them."""

    def __init__(self, swap_in: bool):
        super().__init__()
        self.swap_in = swap_in

    def _averages(self) -> list:
        optimizer = self.model.optimizer
        if not getattr(optimizer, "use_ema", False) or not getattr(optimizer, "_built", False):
            return []
        return [optimizer._model_variables_moving_average[optimizer._index_dict[optimizer._var_key(v)]]
                for v in self.model.trainable_variables]  # fmt: skip

    def _exchange(self, to_average: bool) -> None:
        if getattr(self.model, "_ema_swapped", False) == to_average:
            return
        for variable, average in zip(self.model.trainable_variables, self._averages(), strict=True):
            value = variable.read_value()
            variable.assign(average)
            average.assign(value)
        self.model._ema_swapped = to_average

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self.swap_in and self._averages():
            self._exchange(True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._averages():
            self._exchange(self.swap_in)

"""When the periodic callbacks run: every N epochs and after the last (`EveryNEpochs`), and a
wall-clock limit that makes the current epoch the last one (`TimeLimit`)."""

from __future__ import annotations

import time

import keras

from keras_ddpm.utils import checks


def _due(epoch: int, every: int, total: int | None) -> bool:
    """True after 1-based epoch ``epoch`` when it is a multiple of ``every`` or the last one."""
    return epoch % every == 0 or (total is not None and epoch == total)


class EveryNEpochs(keras.callbacks.Callback):
    """Base of the callbacks that act every ``every_n_epochs`` epochs and after the last one
    (also when a `TimeLimit` stops training early): subclasses define ``on_due_epoch``."""

    def __init__(self, every_n_epochs: int):
        super().__init__()
        self.every_n_epochs = checks.positive_int("every_n_epochs", every_n_epochs)
        self._total = None

    def on_train_begin(self, logs=None):
        self._total = self.params.get("epochs") if self.params else None

    def on_epoch_end(self, epoch, logs=None):
        stopping = bool(getattr(self.model, "stop_training", False))  # e.g. `TimeLimit`: the last epoch
        if _due(epoch + 1, self.every_n_epochs, self._total) or stopping:
            self.on_due_epoch(epoch + 1, logs or {})

    def on_due_epoch(self, epoch: int, logs: dict):
        raise NotImplementedError


class TimeLimit(keras.callbacks.Callback):
    """Stop training after the first epoch that ends more than ``seconds`` after training began.

    Sets ``model.stop_training``; the periodic callbacks placed after it (checkpoint, plots) treat
    that epoch as the last one. Use it to compare models on the same training time.
    """

    def __init__(self, seconds: float):
        super().__init__()
        if not seconds > 0:
            raise ValueError(f"time limit must be > 0 seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() - self._start >= self.seconds:
            self.model.stop_training = True
            self.stopped_epoch = epoch + 1

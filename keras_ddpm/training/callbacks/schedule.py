"""When the periodic callbacks run: every N epochs and after the last (`EveryNEpochs`), a
wall-clock limit that makes the current epoch the last one (`TimeLimit`), and the run's expected
duration once the first epochs are timed (`DurationEstimate`)."""

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


class DurationEstimate(keras.callbacks.Callback):
    """Say how long training (and the work after it) will take, once the speed is known.

    When the ``after_epochs``-th epoch of this ``fit`` has ended (the first one pays for compiling
    the train step, so the default times the second), prints the remaining epochs times that
    epoch's wall time, the ``after_training_seconds`` the caller expects for what follows training (sampling,
    figures, ...), and the clock time the whole run should end at. ``extra_training_seconds`` is
    work inside training that the timed epoch did not do (e.g. periodic sample plots); a
    `TimeLimit` of ``time_limit`` seconds caps the training part.
    """

    def __init__(self, after_training_seconds: float = 0.0, extra_training_seconds: float = 0.0,
                 time_limit: float | None = None, after_epochs: int = 2, print_fn=print):
        super().__init__()
        self.after_training_seconds = float(after_training_seconds)
        self.extra_training_seconds = float(extra_training_seconds)
        self.time_limit = time_limit
        self.after_epochs = checks.positive_int("after_epochs", after_epochs)
        self.print_fn = print_fn
        self.estimate = None  # {"epoch_s", "training_s", "total_s"} once printed

    def on_train_begin(self, logs=None):
        self._begin = time.monotonic()
        self._begins = []

    def on_epoch_begin(self, epoch, logs=None):
        # Timed from one epoch's start to the next one's, so that every callback's work at the
        # end of an epoch (the resume backup too, which runs after this one) is counted.
        self._begins.append(time.monotonic())
        if len(self._begins) == self.after_epochs + 1:
            self._report(epoch - 1, self._begins[-1] - self._begins[-2])

    def _report(self, epoch, epoch_s):
        elapsed = time.monotonic() - self._begin
        total_epochs = (self.params or {}).get("epochs") or (epoch + 1)
        training_s = elapsed + epoch_s * max(0, total_epochs - (epoch + 1)) + self.extra_training_seconds
        if self.time_limit is not None and training_s > self.time_limit + epoch_s:
            fits = epoch + 1 + int(max(0.0, self.time_limit - elapsed - self.extra_training_seconds) // epoch_s)
            self.print_fn(f"the time limit will stop training after about {fits} of the {total_epochs} planned "
                          "epochs, before a decaying learning rate has come down; for a schedule that ends "
                          f"within the limit on this machine, plan about {fits} epochs instead (--epochs)")
            training_s = self.time_limit + epoch_s
        remaining = training_s - elapsed + self.after_training_seconds
        self.estimate = {"epoch_s": epoch_s, "training_s": training_s, "total_s": training_s + self.after_training_seconds}
        end = time.strftime("%H:%M", time.localtime(time.time() + remaining))
        self.print_fn(f"expected: training {_minutes(training_s)} ({epoch_s:.2f} s per epoch, {total_epochs} epochs"
                      + (f", at most {_minutes(self.time_limit)}" if self.time_limit is not None else "")
                      + f"), then {_minutes(self.after_training_seconds)} of sampling, figures and study; "
                      f"done around {end} ({_minutes(remaining)} from now)")


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"

"""Every Keras callback of the package, in one place (each module one concern):

- `schedule`: `EveryNEpochs` (the base of the periodic callbacks), `TimeLimit`, `DurationEstimate`;
- `checkpointing`: `PeriodicCheckpoint`, `AtomicBackupAndRestore`, `StopOnNaN` (`TrainingDiverged`);
- `pictures`: `SamplePlotter` (also TensorBoard images), `LossPlotter`, `read_loss_csv`;
- `validation`: `TimestepLoss` (the held-out loss per bin of timesteps), `TimestepLossEvaluator`.

`keras_ddpm.training.loop.train` wires them to ``fit``; every one also works with a plain
``model.fit(..., callbacks=[...])``.
"""

from keras_ddpm.training.callbacks.checkpointing import (
    AtomicBackupAndRestore,
    PeriodicCheckpoint,
    StopOnNaN,
    TrainingDiverged,
)
from keras_ddpm.training.callbacks.pictures import (
    LossPlotter,
    SamplePlotter,
    log_image,
    read_loss_csv,
)
from keras_ddpm.training.callbacks.schedule import DurationEstimate, EveryNEpochs, TimeLimit
from keras_ddpm.training.callbacks.validation import (
    TimestepLoss,
    TimestepLossEvaluator,
    bin_edges,
    bin_name,
    timestep_bins,
)

__all__ = [
    "AtomicBackupAndRestore",
    "DurationEstimate",
    "EveryNEpochs",
    "LossPlotter",
    "PeriodicCheckpoint",
    "SamplePlotter",
    "StopOnNaN",
    "TimeLimit",
    "TimestepLoss",
    "TimestepLossEvaluator",
    "TrainingDiverged",
    "bin_edges",
    "bin_name",
    "log_image",
    "read_loss_csv",
    "timestep_bins",
]

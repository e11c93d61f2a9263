"""Layer 1, data: point clouds read from text files and their tf.data pipelines (shuffled, batched,
optionally stacked into fused steps)."""

from keras_ddpm.data.points import (
    fuse_steps,
    fused_steps_for,
    load_points,
    make_dataset,
    split_points,
)
from keras_ddpm.data.splits import split_halves, split_indices

__all__ = ["fuse_steps", "fused_steps_for", "load_points", "make_dataset", "split_halves", "split_indices",
           "split_points"]

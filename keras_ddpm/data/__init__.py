"""Layer 1, data: point clouds read from text files and their tf.data pipelines (shuffled, batched,
optionally stacked into fused steps)."""

from keras_ddpm.data.points import (
    fuse_steps,
    fused_steps_for,
    load_points,
    make_dataset,
    split_points,
)

__all__ = ["fuse_steps", "fused_steps_for", "load_points", "make_dataset", "split_points"]

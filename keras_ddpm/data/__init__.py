"""Data loaders: text point clouds (bicycle), and later sprites and toy distributions."""

from keras_ddpm.data.points import (
    fuse_steps,
    fused_steps_for,
    load_points,
    make_dataset,
    split_points,
)

__all__ = ["fuse_steps", "fused_steps_for", "load_points", "make_dataset", "split_points"]

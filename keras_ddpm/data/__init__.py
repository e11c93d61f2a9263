"""Data loaders: text point clouds (bicycle), and later sprites and toy distributions."""

from keras_ddpm.data.points import load_points, make_dataset, split_points

__all__ = ["load_points", "make_dataset", "split_points"]

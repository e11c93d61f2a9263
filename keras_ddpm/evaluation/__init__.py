"""Sample-quality metrics.

- `keras_ddpm.evaluation.points`: distances between 2D (or any low-dimensional) point clouds.
- `keras_ddpm.evaluation.images`: Fréchet and kernel distances (FID/KID) on image features.

Import the submodule you need; this package imports nothing heavy by itself.
"""

"""`TimeSplitNetwork`: the call of a network written as a time embedding followed by a denoiser."""

from __future__ import annotations


class TimeSplitNetwork:
    """Mixin for vector-data networks that define ``embed_time(t)`` and ``denoise(x_t, embedding)``.

    ``call([x_t, t])`` is ``denoise(x_t, embed_time(t))``. Samplers call the two halves
    separately, computing the embedding of every timestep once per sampling run, and
    `DiffusionModel` does the same for batches larger than T. Subclasses set ``data_dim``.
    """

    def call(self, inputs):
        x_t, t = inputs
        return self.denoise(x_t, self.embed_time(t))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.data_dim)

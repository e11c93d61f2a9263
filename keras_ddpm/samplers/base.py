"""The compiled reverse-process loop shared by every sampler.

A sampler visits a decreasing sequence of 0-based timesteps ``seq[0] > seq[1] > ... > seq[-1]``
(DDPM: ``T-1, ..., 0``) and at each one replaces ``x`` (the state at timestep index ``t``, i.e.
the paper's x_{t+1}) by its update towards the next timestep. The whole loop over a stretch of
the sequence runs inside one `tf.function` (a `tf.while_loop`), never one Python round trip per
step; Python only regains control between chunks, to advance a progress bar or record a
trajectory.

Randomness is stateless (Philox): the starting noise uses the key ``(seed, 0)`` and the noise of the step
at timestep ``t`` uses ``(seed, t + 1)``, so the same seed gives the same samples however the
loop is split into chunks (for a given ``jit_compile`` setting: see `RNG_ALGORITHM`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

from keras_ddpm.schedules import NoiseSchedule


#: Named explicitly so the generator never changes with the device. Note that XLA's Philox
#: kernels map the same key to different (equally valid) normals than TensorFlow's CPU kernels, so
#: a sampler with ``jit_compile=True`` is reproducible against itself, not against one without.
RNG_ALGORITHM = "philox"


def validate_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return int(seed)


def step_noise(shape, seed, t, dtype=tf.float32):
    """The standard normal noise z of the step at timestep ``t`` (a scalar tensor)."""
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(t, tf.int64) + 1])
    return tf.random.stateless_normal(shape, seed=key, dtype=dtype, alg=RNG_ALGORITHM)


def initial_noise(shape, seed, dtype=tf.float32):
    """x_T ~ N(0, I) for a given seed (key ``(seed, 0)``)."""
    key = tf.constant([int(seed), 0], tf.int64)
    return tf.random.stateless_normal(shape, seed=key, dtype=dtype, alg=RNG_ALGORITHM)


class Sampler:
    """Base class: a compiled loop over ``self.timestep_sequence`` applying ``self.update``.

    Subclasses define ``timestep_sequence`` (a decreasing int array of 0-based timesteps) and
    ``update(x, eps, i, seed)``, graph code that returns the next state given the network's noise
    prediction ``eps`` at sequence position ``i``.

    Args:
        schedule: the `NoiseSchedule` the network was trained with.
        jit_compile: compile the loop with XLA.
        chunk_size: steps per compiled call when a progress bar is shown.
    """

    def __init__(self, schedule: NoiseSchedule, jit_compile: bool = False, chunk_size: int = 100):
        if int(chunk_size) != chunk_size or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.schedule = schedule
        self.jit_compile = bool(jit_compile)
        self.chunk_size = int(chunk_size)
        self._loops = {}

    # -- to be defined by subclasses -------------------------------------------------------------
    @property
    def timestep_sequence(self) -> np.ndarray:
        raise NotImplementedError

    def update(self, x, eps, i, seed):
        raise NotImplementedError

    # -- the compiled loop -----------------------------------------------------------------------
    def _predict_fn(self, network):
        """Returns ``predict(x, i)``; precomputes the time embedding table when the network can."""
        seq = tf.constant(self.timestep_sequence, tf.int32)
        if hasattr(network, "embed_time") and hasattr(network, "denoise"):
            # The embedding depends on t only: one table for the whole sequence, one row per step.
            def predict(x, i, table):
                return network.denoise(x, tf.gather(table, tf.reshape(i, (1,))))

            def make_table():
                return network.embed_time(seq)
        else:
            def predict(x, i, table):
                t = tf.fill(tf.shape(x)[:1], tf.gather(seq, i))
                return network([x, t], training=False)

            def make_table():
                return tf.zeros((0,))
        return predict, make_table

    def _loop_for(self, network):
        key = id(network)
        if key not in self._loops:
            predict, make_table = self._predict_fn(network)

            def run(x, i_start, i_stop, seed):
                """Apply the updates at sequence positions i_start .. i_stop - 1."""
                table = make_table()

                def body(i, x):
                    eps = predict(x, i, table)
                    return i + 1, self.update(x, eps, i, seed)

                _, x = tf.while_loop(
                    lambda i, x: i < i_stop, body, (i_start, x), parallel_iterations=1
                )
                return x

            self._loops[key] = tf.function(run, jit_compile=self.jit_compile, reduce_retracing=True)
        return self._loops[key]

    def run(self, network, x, seed: int = 0, start: int = 0, record=(), progress: int | bool = False):
        """Run the loop from sequence position ``start`` to the end, starting from state ``x``.

        Args:
            record: sequence positions at which to keep a copy of the state *entering* that step.
            progress: 0/False: silent; 1/True: a Keras progress bar advanced once per chunk of
                ``chunk_size`` steps; 2: one line when done (for logs that are not a terminal).

        Returns:
            ``(x0, {position: state})`` as NumPy arrays.
        """
        seed = validate_seed(seed)
        n = len(self.timestep_sequence)
        if not 0 <= start < n:
            raise ValueError(f"start must be in 0..{n - 1}, got {start}")
        record = sorted({int(p) for p in record})
        if any(not start <= p < n for p in record):
            raise ValueError(f"trajectory positions must be in {start}..{n - 1}, got {record}")
        loop = self._loop_for(network)
        stops = set(record) | {n}
        if progress:
            stops |= set(range(start + self.chunk_size, n, self.chunk_size))
        bar = keras.utils.Progbar(n - start, verbose=int(progress), unit_name="step") if progress else None
        x = tf.convert_to_tensor(x, tf.float32)
        seed_t = tf.constant(seed, tf.int64)
        trajectory = {}
        position = start
        for stop in sorted(p for p in stops if p > start):
            if position in record:
                trajectory[position] = x.numpy()
            x = loop(x, tf.constant(position, tf.int32), tf.constant(stop, tf.int32), seed_t)
            position = stop
            if bar is not None:
                bar.update(position - start)
        return x.numpy(), trajectory

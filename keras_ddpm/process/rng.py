"""Random draws for compiled training steps: Philox keyed directly by a Keras `SeedGenerator`.

`keras.random.normal(shape, seed=generator)` calls `tf.random.stateless_normal` with
TensorFlow's default algorithm, which first hashes the seed into a Philox key and counter
(`StatelessRandomGetKeyCounter`: Philox rounds on scalars, with 64-bit multiplies). Inside an
XLA cluster, the CPU fusion emitter of TensorFlow 2.21 fuses that scalar hash into the loop over
the output elements, so it is recomputed for every number drawn, and the draws of a small
network's training step cost a large part of the step.

These functions skip the hash and use the generator's state ``(seed, n)`` as it is: the Philox
key is ``seed`` and the 128-bit counter starts at ``n * 2**64``. The n-th draw of a generator
therefore reads the blocks ``n * 2**64, n * 2**64 + 1, ...`` of the one Philox-4x32-10 stream of
that key, so no two draws overlap (a draw would need 2**64 blocks of 4 numbers to reach the
next). The generator advances exactly as it does for `keras.random` (one step per draw), so its
state is saved with the model and restored on resume. The numbers differ from
`keras.random`'s for the same seed, and, as for every stateless op, XLA's kernels map a key to
different (equally valid) numbers than TensorFlow's CPU kernels.

The profile and the speed-up: docs/design-notes.md#random-draws-in-training.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PHILOX = 1  # tf.random.Algorithm.PHILOX.value


def _key_counter(seed_generator: keras.random.SeedGenerator):
    """The Philox key ``[seed]`` and counter ``[0, n]`` (low, high 64 bits) of the generator's next draw."""
    if not isinstance(seed_generator, keras.random.SeedGenerator):
        raise TypeError(f"seed_generator must be a keras.random.SeedGenerator, got {type(seed_generator).__name__}")
    state = tf.cast(seed_generator.next(), tf.int64)  # (seed, n); advances the generator
    key = tf.bitcast(state[:1], tf.uint64)
    counter = tf.concat([tf.zeros([1], tf.uint64), tf.bitcast(state[1:], tf.uint64)], axis=0)
    return key, counter


def normal(shape, seed_generator, dtype="float32"):
    """Standard normal numbers of ``shape`` (Philox, Box-Muller as in `tf.random.stateless_normal`)."""
    key, counter = _key_counter(seed_generator)
    return tf.raw_ops.StatelessRandomNormalV2(shape=shape, key=key, counter=counter, alg=PHILOX,
                                              dtype=tf.as_dtype(dtype))


def uniform(shape, seed_generator, dtype="float32"):
    """Uniform numbers in ``[0, 1)`` of ``shape``."""
    key, counter = _key_counter(seed_generator)
    return tf.raw_ops.StatelessRandomUniformV2(shape=shape, key=key, counter=counter, alg=PHILOX,
                                               dtype=tf.as_dtype(dtype))


def randint(shape, minval: int, maxval: int, seed_generator, dtype="int32"):
    """Integers uniform in ``minval .. maxval - 1`` (TensorFlow's `StatelessRandomUniformIntV2`)."""
    if int(maxval) <= int(minval):
        raise ValueError(f"randint needs minval < maxval, got {minval} and {maxval}")
    key, counter = _key_counter(seed_generator)
    dtype = tf.as_dtype(dtype)
    return tf.raw_ops.StatelessRandomUniformIntV2(shape=shape, key=key, counter=counter, alg=PHILOX,
                                                  minval=tf.constant(minval, dtype), maxval=tf.constant(maxval, dtype))

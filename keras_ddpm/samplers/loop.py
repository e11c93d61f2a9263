"""The one step loop every sampler runs on: ``x = step(i, x)`` for ``i`` in ``[i_start, i_stop)``.

As in the predictor-corrector samplers of Song et al. 2021 (score SDEs, section 4.2), an update
rule is a function plugged into a shared loop rather than a loop of its own. Here a step is
``step(i, x) -> x``, graph code, where ``i`` is the int32 step index (a scalar tensor) and ``x``
the state of the whole batch:

- predictor steps, which move ``x`` along a timestep sequence using the network's noise
  prediction: DDPM's ancestral update (Ho et al. 2020, Algorithm 2) and DDIM's update (Song, Meng
  & Ermon 2021, eq. 12), built by `keras_ddpm.samplers.base.Sampler`;
- corrector steps, which move ``x`` at a fixed (or annealed) noise level using a score: the
  Langevin update (Song & Ermon 2019, eq. 4) and its noiseless variant, score ascent, built in
  `keras_ddpm.samplers.langevin`.

`run_steps` is graph code: the callers wrap it in a `tf.function` (optionally XLA-compiled), so a
whole stretch of steps is one `tf.while_loop` in one graph, never one Python round trip per step.
The steps run strictly in order (``parallel_iterations=1``): each depends on the previous state.
"""

from __future__ import annotations

import tensorflow as tf


def run_steps(step, x, i_start, i_stop, record: bool = False):
    """Apply ``x = step(i, x)`` for ``i = i_start, ..., i_stop - 1``, in that order (graph code).

    Args:
        step: ``step(i, x) -> x`` (graph code), ``i`` an int32 scalar tensor; it must keep the
            shape and dtype of ``x``.
        x: the starting state (a tensor).
        i_start, i_stop: int32 scalars (Python ints or tensors); no step runs when
            ``i_stop <= i_start``.
        record: also return the trajectory (a Python bool, fixed when the graph is built).

    Returns:
        The state after the last step or, with ``record``, ``(x, trajectory)`` where
        ``trajectory`` stacks the ``i_stop - i_start + 1`` states, the starting state first:
        ``trajectory[k]`` is the state after ``k`` steps.
    """
    i_start = tf.convert_to_tensor(i_start, tf.int32)
    i_stop = tf.convert_to_tensor(i_stop, tf.int32)
    x = tf.convert_to_tensor(x)

    if not record:
        _, x = tf.while_loop(lambda i, x: i < i_stop, lambda i, x: (i + 1, step(i, x)), (i_start, x),
                             parallel_iterations=1)
        return x

    size = tf.maximum(i_stop - i_start, 0) + 1
    trajectory = tf.TensorArray(x.dtype, size=size, element_shape=x.shape).write(0, x)

    def body(i, x, trajectory):
        x = step(i, x)
        return i + 1, x, trajectory.write(i - i_start + 1, x)

    _, x, trajectory = tf.while_loop(lambda i, *_: i < i_stop, body, (i_start, x, trajectory),
                                     parallel_iterations=1)
    return x, trajectory.stack()

"""The reverse-process samplers' base class: predictor steps over a timestep sequence.

A sampler visits a decreasing sequence of 0-based timesteps ``seq[0] > seq[1] > ... > seq[-1]``
(DDPM: ``T-1, ..., 0``; DDIM: a subsequence of it) and at each one replaces ``x`` (the state at
timestep index ``t``, i.e. the paper's x_{t+1}) by its update towards the next timestep, computed
from the network's noise prediction eps_theta(x_t, t). That update is a "predictor" step (in the
sense of the predictor-corrector samplers of Song et al. 2021, section 4.2) on the step loop that
the Langevin samplers share, `keras_ddpm.samplers.loop.run_steps`: step ``i`` is the update at
sequence position ``i``. A stretch of the sequence runs inside one `tf.function` (one
`tf.while_loop`, optionally XLA-compiled), never one Python round trip per step; Python only
regains control between chunks, to advance a progress bar or record a trajectory. Work that does
not depend on ``x`` is done once per call: for networks that expose ``embed_time``/``denoise``
(the MLP), the time embedding of every timestep of the sequence is one table.

Randomness is stateless (Philox): the starting noise uses the key ``(seed, 0)`` and the noise of
the step at timestep ``t`` uses ``(seed, t + 1)``, so the same seed gives the same samples however
the loop is split into chunks, and DDPM and DDIM draw the same ``z`` at the same timestep (for a
given ``jit_compile`` setting: see `RNG_ALGORITHM`).

Class-conditional networks (an integer ``num_classes`` attribute, called as
``network([x_t, t, labels])``) take ``labels``; ``guidance_scale`` w applies classifier-free
guidance (Ho & Salimans 2022, eq. 6 with w = 1 + their w):
``eps = eps(x_t, t, null) + w * (eps(x_t, t, y) - eps(x_t, t, null))``, where the "null" label is
the id ``num_classes``. w = 1 is plain conditional sampling (one network call per step), w = 0
unconditional; other values cost one call on a doubled batch.

A network trained to predict v (``prediction="v"``, `keras_ddpm.process.parameterization`) is
sampled by the same updates: its output is turned into the eps it implies,
``eps = sqrt(alpha-bar_t) v + sqrt(1 - alpha-bar_t) x_t``, after guidance (guidance is linear in
the output, so it is the same in either form).

Two ways in:
- `Sampler.run` (and the subclasses' ``sample``): NumPy in, NumPy out, progress bar, trajectory.
- `Sampler.generate`: graph code for use inside a `tf.function` (SavedModel export): every
  argument may be a tensor.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm.process.parameterization import check_prediction, eps_from_prediction
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.samplers.loop import run_steps
from keras_ddpm.utils import checks
from keras_ddpm.utils.timing import median_seconds

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
    """x_T ~ N(0, I) for a given seed (key ``(seed, 0)``); ``shape`` and ``seed`` may be tensors."""
    key = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    return tf.random.stateless_normal(shape, seed=key, dtype=dtype, alg=RNG_ALGORITHM)


def validate_shape(shape):
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2 or any(d < 1 for d in shape):
        raise ValueError(f"shape must be (num_samples, *data_shape) with positive sizes, got {shape}")
    return shape


#: Rows per block when `in_row_blocks` splits a large batch of points (XLA samplers): the
#: activations of a block stay in cache. The sizes timed: docs/design-notes.md#row-blocks-in-the-samplers.
ROW_BLOCK = 4096


def in_row_blocks(fn, x, embedding, block: int | None):
    """``fn(x, embedding)`` evaluated on blocks of at most ``block`` rows of ``x``, concatenated.

    Rows are independent, so this is the same function; only the order of work changes. ``x``
    needs a static number of rows (otherwise, or with ``block=None``, one call).
    """
    rows = x.shape[0]
    if block is None or rows is None or rows <= block:
        return fn(x, embedding)
    parts = -(-rows // block)
    sizes = [rows // parts + (1 if k < rows % parts else 0) for k in range(parts)]
    return tf.concat([fn(piece, embedding) for piece in tf.split(x, sizes)], axis=0)


def _is_one(value) -> bool:
    return isinstance(value, (int, float, np.number)) and float(value) == 1.0


class Sampler:
    """Base class: predictor steps ``self.update`` over a timestep sequence, on `run_steps`.

    Subclasses define:
    - ``default_params()``: a dict of the per-call parameters as tensors (e.g. DDIM's
      ``num_steps``, ``eta``); ``generate`` lets callers override them with tensors;
    - ``sequence(params)``: graph code, the decreasing int32 timesteps for those parameters;
    - ``update(x, eps, i, seq, seed, params)``: graph code, the predictor update: the next state
      given the network's noise prediction ``eps`` at sequence position ``i``.

    Args:
        schedule: the `NoiseSchedule` the network was trained with.
        jit_compile: compile the loop with XLA.
        chunk_size: steps per compiled call when a progress bar is shown.
        prediction: what the network predicts, ``"epsilon"`` or ``"v"`` (as it was trained).
    """

    def __init__(self, schedule: NoiseSchedule, jit_compile: bool = False, chunk_size: int = 100,
                 prediction: str = "epsilon"):
        self.chunk_size = checks.positive_int("chunk_size", chunk_size)
        self.prediction = check_prediction(prediction)
        self.schedule = schedule
        self.jit_compile = bool(jit_compile)
        self._loops = {}

    # -- to be defined by subclasses -------------------------------------------------------------
    def default_params(self) -> dict:
        return {}

    def sequence(self, params) -> tf.Tensor:
        raise NotImplementedError

    def update(self, x, eps, i, seq, seed, params):
        raise NotImplementedError

    @property
    def timestep_sequence(self) -> np.ndarray:
        """The decreasing 0-based timesteps this sampler visits (with its configured parameters)."""
        return self.sequence(self.default_params()).numpy()

    # -- the network's noise prediction at one step ----------------------------------------------
    def _eps_theta(self, network, seq, labels, guidance_scale):
        """Returns ``predict(x, i)``, eps_theta at sequence position ``i`` (graph code), float32
        also for a network that computes in float16 or bfloat16 (mixed precision), so that the
        update runs in float32."""
        predict = self._eps_theta_of(network, seq, labels, guidance_scale)

        def eps(x, i):  # the network's output as it is for eps-prediction, the eps it implies for v
            output = tf.cast(predict(x, i), tf.float32)
            return eps_from_prediction(self.schedule, self.prediction, x, tf.gather(seq, i), output)

        return eps

    def _eps_theta_of(self, network, seq, labels, guidance_scale):
        num_classes = getattr(network, "num_classes", None)
        if labels is None and num_classes:
            labels = "null"  # a conditional network sampled without labels: unconditional
        if labels is not None and not num_classes:
            raise ValueError("labels were given but the network is not class-conditional (no num_classes)")

        if labels is None:
            if hasattr(network, "embed_time") and hasattr(network, "denoise"):
                # The embedding depends on t only: one table for the whole sequence, a row per step.
                table = network.embed_time(seq)
                block = ROW_BLOCK if self.jit_compile else None
                return lambda x, i: in_row_blocks(network.denoise, x, tf.gather(table, tf.reshape(i, (1,))), block)

            def predict(x, i):
                t = tf.fill(tf.shape(x)[:1], tf.gather(seq, i))
                return network([x, t], training=False)

            return predict

        def null_like(x):
            return tf.fill(tf.shape(x)[:1], tf.constant(num_classes, tf.int32))

        if isinstance(labels, str):  # "null"
            def predict(x, i):
                t = tf.fill(tf.shape(x)[:1], tf.gather(seq, i))
                return network([x, t, null_like(x)], training=False)

            return predict

        labels = tf.cast(labels, tf.int32)
        if _is_one(guidance_scale):
            def predict(x, i):
                t = tf.fill(tf.shape(x)[:1], tf.gather(seq, i))
                return network([x, t, labels], training=False)

            return predict

        w = tf.cast(guidance_scale, tf.float32)

        def predict(x, i):
            # Conditional and unconditional predictions in one call on a doubled batch.
            t = tf.fill(tf.shape(x)[:1], tf.gather(seq, i))
            eps = network([tf.concat([x, x], 0), tf.concat([t, t], 0),
                           tf.concat([labels, null_like(x)], 0)], training=False)
            eps_cond, eps_uncond = tf.split(tf.cast(eps, tf.float32), 2, axis=0)
            return eps_uncond + w * (eps_cond - eps_uncond)

        return predict

    # -- graph code ----------------------------------------------------------------------------
    def predictor_step(self, network, seed, labels=None, guidance_scale=1.0, params=None):
        """The predictor step ``step(i, x)`` for `run_steps`: ``self.update`` at sequence position ``i``.

        Graph code. ``params`` defaults to ``default_params()``; ``labels``/``guidance_scale`` as in
        `generate`.
        """
        params = self.default_params() if params is None else params
        seq = self.sequence(params)
        predict = self._eps_theta(network, seq, labels, guidance_scale)

        def step(i, x):
            return self.update(x, predict(x, i), i, seq, seed, params)

        return step

    def _loop(self, network, x, i_start, i_stop, seed, labels, guidance_scale, params):
        """Apply the updates at sequence positions ``i_start .. i_stop - 1`` (graph code)."""
        step = self.predictor_step(network, seed, labels, guidance_scale, params)
        return run_steps(step, x, i_start, i_stop)

    def _params(self, overrides) -> dict:
        params = self.default_params()
        for name, value in overrides.items():
            if name not in params:
                raise ValueError(f"unknown sampler parameter {name!r}; expected one of {sorted(params)}")
            if value is not None:
                params[name] = tf.convert_to_tensor(value, params[name].dtype)
        return params

    def generate(self, network, x_T, seed, labels=None, guidance_scale=1.0, **params):
        """The whole reverse process from ``x_T`` (graph code; arguments may be tensors).

        ``params`` override the configured per-call parameters with tensors (e.g. DDIM's
        ``num_steps`` and ``eta``), validated inside the graph. Returns x_0 as a tensor.
        """
        params = self._params(params)
        checks = self.check_params(params)
        with tf.control_dependencies(checks):  # every use of a parameter waits for its check
            params = {name: tf.identity(value) for name, value in params.items()}
            x = tf.identity(tf.convert_to_tensor(x_T, tf.float32))
        n = tf.shape(self.sequence(params))[0]
        return self._loop(network, x, tf.constant(0), n, seed, labels, guidance_scale, params)

    def check_params(self, params) -> list:
        """In-graph assertions on tensor parameters (subclasses add theirs)."""
        return []

    # -- the eager driver ----------------------------------------------------------------------
    def _compiled(self, network, mode):
        key = (id(network), mode)
        if key not in self._loops:
            # The configured parameters become constants of the graph (so, e.g., DDIM with eta = 0
            # knows when it is traced that it draws no noise).
            def run(x, i_start, i_stop, seed, labels=None, guidance_scale=1.0):
                return self._loop(network, x, i_start, i_stop, seed, labels, guidance_scale,
                                  self.default_params())

            # autograph=False: the loop is an explicit tf.while_loop, there is nothing to convert.
            self._loops[key] = tf.function(run, jit_compile=self.jit_compile, reduce_retracing=True,
                                           autograph=False)
        return self._loops[key]

    def run(self, network, x, seed: int = 0, start: int = 0, record=(), progress: int | bool = False,
            labels=None, guidance_scale: float = 1.0):
        """Run the loop from sequence position ``start`` to the end, starting from state ``x``.

        Args:
            record: sequence positions at which to keep a copy of the state *entering* that step.
            progress: 0/False: silent; 1/True: a Keras progress bar advanced once per chunk of
                ``chunk_size`` steps; 2: one line when done (for logs that are not a terminal).
            labels: class ids, one per sample, for a class-conditional network.
            guidance_scale: classifier-free guidance weight w (see the module docstring).

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
        x = tf.convert_to_tensor(x, tf.float32)
        extra = self._label_args(network, labels, guidance_scale, int(x.shape[0]))
        mode = ("plain", "conditional", "guided")[len(extra)]
        loop = self._compiled(network, mode)
        stops = set(record) | {n}
        if progress:
            stops |= set(range(start + self.chunk_size, n, self.chunk_size))
        bar = keras.utils.Progbar(n - start, verbose=int(progress), unit_name="step") if progress else None
        seed_t = tf.constant(seed, tf.int64)
        trajectory = {}
        position = start
        for stop in sorted(p for p in stops if p > start):
            if position in record:
                trajectory[position] = x.numpy()
            x = loop(x, tf.constant(position, tf.int32), tf.constant(stop, tf.int32), seed_t, *extra)
            position = stop
            if bar is not None:
                bar.update(position - start)
        return x.numpy(), trajectory

    def seconds_per_step(self, network, shape, labels=None, guidance_scale: float = 1.0, repeats: int = 3) -> float:
        """Wall time of one reverse step on a batch of ``shape``, for estimating a run's duration.

        Runs the last step of the compiled loop from zeros once (it traces and compiles the loop;
        calls for the same shape reuse that graph, so later sampling at this shape compiles
        nothing again), then ``repeats`` more times; returns the median of those.
        """
        x = tf.zeros(validate_shape(shape), tf.float32)
        last = len(self.timestep_sequence) - 1
        return median_seconds(lambda: self.run(network, x, start=last, labels=labels, guidance_scale=guidance_scale),
                              repeats)

    @staticmethod
    def _label_args(network, labels, guidance_scale, num_samples):
        """Validate labels/guidance for the eager path; returns the extra loop arguments."""
        num_classes = getattr(network, "num_classes", None)
        if labels is None:
            if not _is_one(guidance_scale):
                raise ValueError("guidance_scale needs labels")
            return ()
        if not num_classes:
            raise ValueError("labels were given but the network is not class-conditional (no num_classes)")
        labels = np.asarray(labels)
        if labels.shape != (num_samples,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be {num_samples} integer class ids, got shape {labels.shape} "
                             f"and dtype {labels.dtype}")
        if labels.min() < 0 or labels.max() > num_classes:
            raise ValueError(f"labels must be class ids in 0..{num_classes - 1} ({num_classes} = no class)")
        if not np.isfinite(guidance_scale):
            raise ValueError(f"guidance_scale must be a finite number, got {guidance_scale!r}")
        labels = tf.constant(labels, tf.int32)
        if _is_one(guidance_scale):
            return (labels,)
        return labels, tf.constant(float(guidance_scale), tf.float32)

    # -- shared public API ---------------------------------------------------------------------
    def sample(self, network, shape, seed: int = 0, labels=None, guidance_scale: float = 1.0,
               trajectory_steps=(), progress: int | bool = False):
        """Draw ``shape[0]`` samples, starting from x_T ~ N(0, I) drawn from ``seed``.

        Args:
            network: eps_theta, called as ``network([x_t, t])`` (or ``[x_t, t, labels]`` when it
                is class-conditional, or through its ``embed_time``/``denoise`` halves).
            shape: ``(num_samples, *data_shape)``.
            seed: the same seed gives the same samples.
            labels, guidance_scale: class-conditional sampling (see the module docstring).
            trajectory_steps: 0-based timesteps ``t`` of the sequence at which to keep the state
                entering the step at ``t`` (x_T is the first timestep).
            progress: 1/True: a Keras progress bar; 2: one line when done; 0/False: silent.

        Returns:
            ``x0`` (NumPy) or, when ``trajectory_steps`` is given, ``(x0, {t: x_t})``.
        """
        shape = validate_shape(shape)
        x_T = initial_noise(shape, validate_seed(seed))
        return self._run_from_position(network, x_T, 0, seed, labels, guidance_scale, trajectory_steps,
                                       progress)

    def _run_from_position(self, network, x, start, seed, labels, guidance_scale, trajectory_steps,
                           progress):
        seq = [int(t) for t in self.timestep_sequence]
        position_of = {t: p for p, t in enumerate(seq)}
        steps = [int(t) for t in trajectory_steps]
        bad = [t for t in steps if t not in position_of or position_of[t] < start]
        if bad:
            raise ValueError(f"trajectory steps must be timesteps of the sequence from {seq[start]} "
                             f"down, got {bad}")
        x0, recorded = self.run(network, x, seed=seed, start=start, record=[position_of[t] for t in steps],
                                progress=progress, labels=labels, guidance_scale=guidance_scale)
        if not steps:
            return x0
        return x0, {seq[p]: v for p, v in sorted(recorded.items())}

"""`tf.distribute` strategies by name, for ``--strategy default|mirrored|multiworker|tpu``.

Build (and compile) the model inside the strategy's scope and call ``fit`` as usual; Keras
splits every batch of the `tf.data` pipeline across the replicas::

    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = DiffusionModel(DenoisingMLP(), schedule)
        model.compile(...)
    model.fit(make_dataset(points, batch_size=global_batch_size), ...)

**The batch size is the global batch size.** The dataset yields batches of ``B`` examples and
each of the ``N`` replicas trains on ``B / N`` of them per step; `DiffusionModel.train_step`
divides each replica's loss by ``N`` and the optimizer sums the replicas' gradients, so one step
is the same update as one single-device step on the whole batch of ``B``. Keeping ``B`` (and the
learning rate) fixed when adding devices therefore keeps the training maths unchanged and makes
each step faster; to use the extra devices for a larger batch, raise ``B`` (and usually the
learning rate) yourself. ``B`` must be a multiple of ``N`` (`check_global_batch_size`).

**Several workers** (``multiworker``, one process per machine, each with its own ``TF_CONFIG``)
follow the conventions of TensorFlow's multi-worker Keras tutorial
(https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras): every worker runs the
same program on the same data and seed; the dataset is sharded by data (`shard_by_data`: each
worker keeps its replicas' slices of every global batch); only the chief (`is_chief`) writes
the run's outputs, and every other worker writes what it must (checkpoints, backup, the saved
model, since saving can need collective ops) into a scratch folder of its own (`worker_dir`)
that it deletes when the run ends.
"""

from __future__ import annotations

import os

import tensorflow as tf

from keras_ddpm.utils import checks

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def split_cpu(count: int) -> None:
    """Split the CPU into ``count`` logical devices, e.g. to try ``mirrored`` on a machine without GPUs.

    Must run before TensorFlow initialises its devices (before any tensor is made).

    Raises:
        ValueError: ``count`` < 1, or TensorFlow's devices are already initialised.
    """
    count = checks.positive_int("the number of CPU devices", count)
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(count))
    except RuntimeError:
        raise ValueError("cannot split the CPU: TensorFlow's devices are already initialised") from None


def make_strategy(name: str = "default", devices=None, tpu: str | None = None) -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` called ``name``.

    Args:
        name: one of
            * ``"default"``: no distribution (TensorFlow's default strategy; one device).
            * ``"mirrored"``: `tf.distribute.MirroredStrategy`, synchronous data parallelism
              over the devices of this machine: ``devices`` if given, else every GPU, else every
              logical CPU device (several only when the CPU was split with
              `tf.config.set_logical_device_configuration`), so the same command uses whatever
              the machine has.
            * ``"multiworker"``: `tf.distribute.MultiWorkerMirroredStrategy`, the same across
              machines. Each worker runs the same command with its own ``TF_CONFIG`` environment
              variable (cluster and task index); without ``TF_CONFIG`` it is a single worker.
              Create it before any other TensorFlow work in the process.
            * ``"tpu"``: `tf.distribute.TPUStrategy` on the TPU named by ``tpu`` (or the
              ``TPU_NAME`` environment variable; empty for a Cloud TPU VM's local TPU).
        devices: device names for ``"mirrored"``.
        tpu: TPU name or address for ``"tpu"``.

    Raises:
        ValueError: an unknown name, or no TPU can be reached for ``"tpu"``.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is None:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
                d.name for d in tf.config.list_logical_devices("CPU")
            ]
        return tf.distribute.MirroredStrategy(devices=list(devices))
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy(tpu if tpu is not None else os.environ.get("TPU_NAME", ""))


def _tpu_strategy(tpu: str) -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        where = f"TPU {tpu!r}" if tpu else "a local TPU"
        raise ValueError(
            f"--strategy tpu: cannot reach {where} ({' '.join(str(err).split())[:200]}); "
            "set TPU_NAME or run on a TPU VM"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the worker that writes a run's outputs: the task ``chief`` if the cluster has one,
    else worker 0, and the only process of a run without a cluster (every strategy but a
    ``multiworker`` one with ``TF_CONFIG``), as in TensorFlow's multi-worker Keras tutorial."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and int(resolver.task_id or 0) == 0 and not has_chief


def worker_dir(out, strategy: tf.distribute.Strategy) -> str:
    """Where this worker writes: ``out`` on the chief, else its own scratch folder
    ``out/.worker-TYPE-ID`` (on its own disk when the workers share no file system), which the
    worker deletes once its run has ended well; until then it holds the worker's resume backup."""
    if is_chief(strategy):
        return os.fspath(out)
    resolver = strategy.cluster_resolver
    return os.path.join(os.fspath(out), f".worker-{resolver.task_type}-{int(resolver.task_id or 0)}")


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with the auto-shard policy ``DATA``: every worker builds the same pipeline (same
    seed, same order) and keeps its replicas' slices of each global batch. The default policy
    (``AUTO``) would first try to shard by files, which an in-memory dataset has none of, and log a
    warning before falling back to ``DATA``. No effect without several workers."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def steps_per_execution_for(strategy: tf.distribute.Strategy, steps_per_execution: int) -> int:
    """The ``steps_per_execution`` to compile with under ``strategy``.

    Keras 3.15's multi-step training loop (``steps_per_execution > 1``) fails under
    `MirroredStrategy` with "You must feed a value for placeholder tensor ..." (its
    ``get_next_as_optional`` inside a ``tf.cond`` does not work on a distributed iterator;
    reproduced with two logical CPU devices), so any strategy other than the default one runs
    one step per call. On several GPUs or a TPU each step is large enough for that to cost little.
    """
    if isinstance(strategy, type(tf.distribute.get_strategy())) and not tf.distribute.has_strategy():
        return int(steps_per_execution)
    return 1


def check_global_batch_size(batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """The per-replica batch size of a global ``batch_size``; it must split evenly.

    Raises:
        ValueError: ``batch_size`` is not a multiple of the number of replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"the batch size is the global batch, split over {replicas} replicas: "
            f"{batch_size} is not a multiple of {replicas}"
        )
    return batch_size // replicas


def describe(strategy: tf.distribute.Strategy, batch_size: int | None = None) -> str:
    """One line for the log, e.g. ``MirroredStrategy, 2 replicas; global batch 64 = 2 x 32``."""
    replicas = strategy.num_replicas_in_sync
    try:
        devices = tuple(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError):  # the default strategy has no device list
        devices = ()
    name = type(strategy).__name__
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        name = "MultiWorkerMirroredStrategy"  # its class is still called CollectiveAllReduceStrategy
        resolver = strategy.cluster_resolver
        if resolver is not None and resolver.task_type:
            workers = sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values())
            name += f" (task {resolver.task_type} {int(resolver.task_id or 0)} of {workers} workers)"
    if name.startswith("_Default"):
        name = "default strategy"
    text = f"{name}, {replicas} replica{'s' if replicas != 1 else ''}"
    if devices:
        text += f" ({', '.join(devices)})"
    if batch_size is not None:
        text += f"; global batch {batch_size} = {replicas} x {batch_size // replicas} per replica"
    return text

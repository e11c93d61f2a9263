"""Speed of training and sampling the bicycle model against what this CPU's matrix units can do.

    python -m benchmarks.speed                 # the full run (~12 minutes on 2 cores), table + JSON
    python -m benchmarks.speed --quick         # small sizes: checks that the benchmark works

The same command then runs the sprite UNet's rows (`benchmarks.sprites`: conv peak, training and
sampling images/s) in a child process with oneDNN on, as ``train_sprites.py`` runs.

Everything is measured in one run on the current machine, so the ratios (fraction of the matmul
peak, speed-ups) are what count; absolute times drift on a shared machine. Each timing is the
median of ``--repeats`` runs (the compiled samplers: ``--repeats - 1``) after a warm-up run, so
compilation is excluded; the naive eager sampler is timed once over ``--naive-steps`` steps and
scaled to all T steps (every step costs the same).

FLOPs are counted by TensorFlow's graph profiler (``tf.compat.v1.profiler``, float operations of
the traced graph: every matmul, add and activation), for one training step (forward + backward)
and for one sampling step of the network with its time embedding taken from the table.

Recorded runs: benchmarks/RESULTS.md; the design choices they led to: docs/design-notes.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_ddpm_env  # noqa: E402

keras_ddpm_env.tune_cpu()  # the training scripts' settings (an explicit TF_ENABLE_ONEDNN_OPTS wins)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ddpm import (  # noqa: E402
    DDIMSampler,
    DDPMSampler,
    DenoisingMLP,
    DiffusionModel,
    NoiseSchedule,
)
from benchmarks.measure import graph_flops, median_seconds, write_results  # noqa: E402
from keras_ddpm.data import fused_steps_for, make_dataset  # noqa: E402
from keras_ddpm.samplers.base import initial_noise  # noqa: E402

BICYCLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
                       "bicycle.txt")


# -- measuring -----------------------------------------------------------------------------------
def matmul_peak(rows_list, width: int, repeats: int, seconds: float = 0.4):
    """GFLOP/s of chained ``(rows, width) @ (width, width)`` float32 matmuls, per row count.

    The chain runs in one compiled loop (with and without XLA; the faster counts), long enough
    (~``seconds``) that call overhead is negligible.
    """
    rng = np.random.default_rng(0)
    w = tf.constant(np.linalg.qr(rng.normal(size=(width, width)))[0], tf.float32)  # orthogonal: no blow-up
    results = {}
    for rows in rows_list:
        x = tf.constant(rng.normal(size=(rows, width)), tf.float32)
        reps = max(10, int(seconds * 100e9 / (2 * rows * width * width)))
        best = 0.0
        for jit in (False, True):
            @tf.function(jit_compile=jit)
            def chain(x):
                return tf.while_loop(lambda i, x: i < reps, lambda i, x: (i + 1, tf.matmul(x, w)), (0, x))[1]

            t = median_seconds(lambda: chain(x).numpy(), repeats)
            best = max(best, 2.0 * rows * width * width * reps / t / 1e9)
        results[rows] = best
    return results


# -- the workloads ---------------------------------------------------------------------------------
def make_network():
    network = DenoisingMLP()
    network([np.zeros((1, 2), np.float32), np.zeros(1, np.int32)])
    return network


def training_flops_per_example(network, batch: int = 256) -> float:
    def step(x, t):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(network([x, t]) - x))
        return tape.gradient(loss, network.trainable_variables)

    return graph_flops(step, tf.TensorSpec([batch, 2]), tf.TensorSpec([batch], tf.int32)) / batch


def executed_training_flops_per_example(batch: int) -> float:
    """FLOPs per example of the training step as `DiffusionModel` runs it at this batch size.

    Above T examples per batch it embeds the T timesteps once and gathers rows, so it executes
    fewer FLOPs than the model FLOPs (`training_flops_per_example`) for the same result.
    """
    model = DiffusionModel(make_network(), NoiseSchedule())
    model.build((None, 2))

    def step(x0, t, noise):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.per_example_loss(x0, t, noise, training=True))
        return tape.gradient(loss, model.network.trainable_variables)

    specs = (tf.TensorSpec([batch, 2]), tf.TensorSpec([batch], tf.int32), tf.TensorSpec([batch, 2]))
    return graph_flops(step, *specs) / batch


def sampling_flops_per_point_step(network, batch: int = 256) -> float:
    width = network.embed_time(tf.zeros((1,), tf.int32)).shape[-1]
    return graph_flops(network.denoise, tf.TensorSpec([batch, 2]), tf.TensorSpec([1, width])) / batch


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def training_speed(points, batch: int, examples: int, repeats: int, steps_per_execution: int,
                   jit_compile: bool, fused_steps: int = 1, build_model=None) -> float:
    """Examples/s of `model.fit` on the `DiffusionModel` (median epoch after a warm-up epoch).

    With ``fused_steps > 1`` the model runs that many updates per train step (one XLA loop when
    ``jit_compile``) on stacked minibatches from ``make_dataset(..., fused_steps=...)``; every
    stack holds exactly ``fused_steps`` minibatches, so the examples counted are the ones trained on.
    ``build_model(fused_steps)`` returns the compiled model to time (default: the assignment's
    network with Adam, compiled with ``steps_per_execution`` and ``jit_compile``).
    """
    keras.utils.set_random_seed(0)
    if build_model is None:
        model = DiffusionModel(make_network(), NoiseSchedule(), seed=0, fused_steps=fused_steps)
        model.compile(steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    else:
        model = build_model(fused_steps)
    per_step = batch * fused_steps
    steps = max(steps_per_execution, examples // per_step // steps_per_execution * steps_per_execution)
    dataset = make_dataset(points, batch, seed=0, fused_steps=fused_steps).repeat()
    timer = _EpochTimer()
    model.fit(dataset, epochs=repeats + 1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return steps * per_step / statistics.median(timer.times[1:])


TRAINING_BATCHES = (64, 1024, 4096)


def training_examples(batch: int, quick: bool) -> int:
    """Examples per timed epoch at ``batch`` (enough for ~1 s at the speeds seen)."""
    if batch == 64:
        return 20_000 if quick else 300_000
    return 40_000 if quick else 1_000_000


def training_rows(points, quick: bool, repeats: int) -> list:
    """Examples/s of every training configuration in this process (its oneDNN setting)."""
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1"
    rows = []
    for batch in TRAINING_BATCHES:
        examples = training_examples(batch, quick)
        fused = fused_steps_for(len(points) // batch)
        configs = [(1, False, 1), (100, False, 1), (100, True, 1)] if not onednn else [(100, False, 1)]
        configs += [(1, False, fused), (1, True, fused)]
        for spe, jit, k in configs:
            if quick and batch > 64 and spe == 1 and k == 1:
                continue
            speed = training_speed(points, batch, examples, repeats, spe, jit, k)
            rows.append({"batch": batch, "steps_per_execution": spe, "jit_compile": jit, "fused_steps": k,
                         "onednn": onednn, "examples_per_s": speed})
            print(f"  batch {batch:5d}  steps_per_execution {spe:3d}  fused_steps {k:3d}  jit {str(jit):5s}  "
                  f"oneDNN {str(onednn):5s}: {speed:10,.0f} examples/s", flush=True)
    return rows


def preset_model_builder(preset, steps_per_epoch: int):
    """``build_model(fused_steps)`` for `training_speed`: the bicycle preset's `DiffusionModel`
    (network, timestep distribution, Adam and learning-rate schedule) compiled as ``train_bicycle.py``
    compiles it."""
    from keras_ddpm.process import timestep_distribution
    from keras_ddpm.training.loop import TrainConfig, compile_model

    def build(fused_steps):
        model = DiffusionModel(preset.build_network(2), NoiseSchedule(preset.schedule, preset.timesteps), seed=0,
                               fused_steps=fused_steps,
                               timestep_distribution=timestep_distribution(preset.small_t_fraction,
                                                                           preset.small_t_steps))
        config = TrainConfig(epochs=preset.epochs, learning_rate=preset.learning_rate, lr_decay=preset.lr_decay,
                             ema_momentum=preset.ema_momentum, fused_steps=fused_steps)
        return compile_model(model, config, (2,), steps_per_epoch=steps_per_epoch)

    return build


def preset_training_rows(points, quick: bool, repeats: int, train_fraction: float = 0.9) -> list:
    """Each bicycle preset's training step as ``train_bicycle.py`` runs it (its network, batch size
    and fused steps over an epoch of the training split): examples/s and FLOPs per example."""
    from keras_ddpm.apps.bicycle.presets import PRESETS

    rows = []
    for name, preset in PRESETS.items():
        batch = preset.batch_size
        steps_per_epoch = int(len(points) * train_fraction) // batch
        fused = fused_steps_for(steps_per_epoch)
        network = preset.build_network(2)
        network([np.zeros((1, 2), np.float32), np.zeros(1, np.int32)])
        flops = training_flops_per_example(network, batch)
        examples = (20_000 if quick else 400_000) // (batch * fused) * (batch * fused) or batch * fused
        speed = training_speed(points, batch, examples, repeats, 1, True, fused,
                               build_model=preset_model_builder(preset, steps_per_epoch // fused * fused))
        rows.append({"preset": name, "network": preset.network, "batch": batch, "fused_steps": fused,
                     "flops_per_example": flops, "examples_per_s": speed,
                     "epoch_s": steps_per_epoch // fused * fused * batch / speed})
        print(f"  preset {name:10s} batch {batch:4d}  fused_steps {fused:3d}: {speed:10,.0f} examples/s "
              f"({flops / 1e3:.0f} kFLOP each)", flush=True)
    return rows


def training_in_subprocess(args, onednn: bool) -> dict:
    """`training_rows` and the matmul peak measured by a child process with oneDNN switched on or off.

    oneDNN is chosen when TensorFlow loads, once per process, so the other setting needs its own
    process; it runs after this one's measurements, never at the same time.
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "training.json")
        command = [sys.executable, "-m", "benchmarks.speed", "--training-only", "--json", out,
                   "--repeats", str(args.repeats), "--data", args.data] + (["--quick"] if args.quick else [])
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0")
        subprocess.run(command, env=env, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(out) as handle:
            return json.load(handle)


def sprites_in_subprocess(args) -> dict:
    """`benchmarks.sprites` (the sprite UNet's rows) in a child process with oneDNN on, as
    ``train_sprites.py`` runs; after this process's measurements, never at the same time."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "sprites.json")
        command = [sys.executable, "-m", "benchmarks.sprites", "--json", out, "--repeats", str(args.repeats)]
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=os.environ.get("SPRITES_ONEDNN", "1"))
        subprocess.run(command + (["--quick"] if args.quick else []), env=env, check=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(out) as handle:
            return json.load(handle)


def pipeline_speed(points, batch: int, examples: int) -> float:
    """Examples/s of the tf.data pipeline alone (what training can never exceed)."""
    dataset = make_dataset(points, batch, seed=0).repeat()
    steps = max(1, examples // batch)

    @tf.function
    def drain(iterator):
        total = tf.constant(0.0)
        for _ in tf.range(steps):
            total += tf.reduce_sum(next(iterator))
        return total

    iterator = iter(dataset)
    return steps * batch / median_seconds(lambda: drain(iterator).numpy(), 3)


def naive_ddpm(network, schedule, num_points: int, num_steps: int, seed: int = 0):
    """Algorithm 2 as the keras.io example writes it: one eager ``model(x, t)`` call per step."""
    s = schedule
    x = initial_noise((num_points, 2), seed).numpy()
    rng = np.random.default_rng(seed)
    for t in range(s.timesteps - 1, s.timesteps - 1 - num_steps, -1):
        eps = network([x, np.full((num_points,), t, np.int32)], training=False).numpy()
        mean = (x - np.float32(s.eps_coef[t]) * eps) * np.float32(s.sqrt_recip_alphas[t])
        z = rng.standard_normal((num_points, 2), dtype=np.float32) if t > 0 else 0.0
        x = mean + np.float32(np.sqrt(s.betas[t])) * z
    return x


# -- the run ---------------------------------------------------------------------------------------
def run(args):
    tf.get_logger().setLevel("ERROR")
    quick = args.quick
    repeats = 1 if quick else args.repeats
    n_points = 2000 if quick else args.points
    points = _load_points(args.data)
    schedule = NoiseSchedule()
    network = make_network()
    results = {"machine": _machine(), "settings": {"quick": quick, "repeats": repeats, "points": n_points}}

    print("matmul peak ...", flush=True)
    peaks = matmul_peak((64, 1024, 4096) if quick else (64, 1024, 4096, 16384, 50000), 128, repeats,
                        seconds=0.05 if quick else 0.5)
    peak = max(peaks.values())
    results["isa"] = instruction_set()
    if args.presets_only:  # the presets' training rows only (quick to repeat under an ISA cap)
        results["peak_gflops"], results["matmul_gflops"] = peak, {str(k): v for k, v in peaks.items()}
        results["presets"] = _with_fractions(preset_training_rows(points, quick, repeats), peak)
        return results
    if args.training_only:  # the second process: the parent counts the FLOPs and does the rest
        return {"matmul_gflops": {str(k): v for k, v in peaks.items()}, "peak_gflops": peak,
                "training": training_rows(points, quick, repeats)}

    print("counting FLOPs ...", flush=True)
    train_flops = training_flops_per_example(network)
    step_flops = sampling_flops_per_point_step(network)
    results["flops"] = {"train_per_example": train_flops, "sample_per_point_step": step_flops}
    results["matmul_gflops"] = {str(k): v for k, v in peaks.items()}
    results["peak_gflops"] = peak

    def fraction(flops_per_second):
        return flops_per_second / (peak * 1e9)

    print("training ...", flush=True)
    executed = {b: executed_training_flops_per_example(b) for b in TRAINING_BATCHES}
    results["flops"]["train_executed_per_example"] = {str(b): f for b, f in executed.items()}
    results["pipeline_examples_per_s"] = {
        str(b): pipeline_speed(points, b, training_examples(b, quick)) for b in TRAINING_BATCHES}
    rows = training_rows(points, quick, repeats)
    if not args.no_onednn_run:
        onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1"
        print(f"training with oneDNN {'off' if onednn else 'on'} (a second process) ...", flush=True)
        child = training_in_subprocess(args, not onednn)
        rows += child["training"]
        results["matmul_gflops_other_onednn"] = child["matmul_gflops"]
        peak = max(peak, child["peak_gflops"])  # the best the machine showed in either setting
        results["peak_gflops"] = peak
    for row in rows:
        row["fraction_of_peak"] = fraction(row["examples_per_s"] * train_flops)
        row["executed_fraction_of_peak"] = fraction(row["examples_per_s"] * executed[row["batch"]])
    results["training"] = rows
    results["presets"] = _with_fractions(preset_training_rows(points, quick, repeats), peak)

    print("sampling ...", flush=True)
    shape = (n_points, 2)
    point_steps = n_points * schedule.timesteps
    sampling = {}
    for name, sampler, progress in [
        ("ddpm_xla", DDPMSampler(schedule, jit_compile=True), 0),
        ("ddpm_xla_progress_bar", DDPMSampler(schedule, jit_compile=True), 1),
        ("ddpm_no_xla", DDPMSampler(schedule, jit_compile=False), 0),
        ("ddim_50", DDIMSampler(schedule, num_steps=50, jit_compile=True), 0),
        ("ddim_100", DDIMSampler(schedule, num_steps=100, jit_compile=True), 0),
    ]:
        seconds = median_seconds(lambda: sampler.sample(network, shape, seed=0, progress=progress),
                                 max(1, repeats - 1))
        steps = len(sampler.timestep_sequence)
        sampling[name] = {"seconds": seconds, "steps": steps,
                          "point_steps_per_s": n_points * steps / seconds,
                          "fraction_of_peak": fraction(n_points * steps * step_flops / seconds)}
        print(f"  {name:22s}: {seconds:7.2f} s", flush=True)
    naive_steps = 20 if quick else args.naive_steps
    naive_ddpm(network, schedule, n_points, 2)  # warm-up
    start = time.perf_counter()
    naive_ddpm(network, schedule, n_points, naive_steps)
    seconds = (time.perf_counter() - start) * schedule.timesteps / naive_steps  # every step costs the same
    sampling["ddpm_naive_eager"] = {"seconds": seconds, "steps": schedule.timesteps, "measured_steps": naive_steps,
                                    "point_steps_per_s": point_steps / seconds,
                                    "fraction_of_peak": fraction(point_steps * step_flops / seconds)}
    print(f"  {'ddpm_naive_eager':22s}: {seconds:7.2f} s", flush=True)
    results["sampling"] = sampling
    ddpm = sampling["ddpm_xla"]["seconds"]
    results["ratios"] = {
        "ddpm_speedup_over_naive": sampling["ddpm_naive_eager"]["seconds"] / ddpm,
        "ddpm_speedup_xla_over_no_xla": sampling["ddpm_no_xla"]["seconds"] / ddpm,
        "ddim50_speedup_over_ddpm": ddpm / sampling["ddim_50"]["seconds"],
        "ddim100_speedup_over_ddpm": ddpm / sampling["ddim_100"]["seconds"],
        "progress_bar_overhead": sampling["ddpm_xla_progress_bar"]["seconds"] / ddpm - 1.0,
    }
    return results


def _with_fractions(rows, peak_gflops: float) -> list:
    for row in rows:
        row["fraction_of_peak"] = row["examples_per_s"] * row["flops_per_example"] / (peak_gflops * 1e9)
    return rows


def instruction_set() -> str:
    """The widest vector instruction set of this CPU, and the cap on it (``XLA_FLAGS`` /
    ``ONEDNN_MAX_CPU_ISA``) when one is set: an AVX-512 machine capped to AVX2 stands in for an AVX2 one."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        flags = ""
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "unknown"
    caps = [part.split("=", 1)[1] for part in os.environ.get("XLA_FLAGS", "").split()
            if part.startswith("--xla_cpu_max_isa=")]
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        caps.append(os.environ["ONEDNN_MAX_CPU_ISA"])
    return isa + (f" capped to {'/'.join(sorted(set(caps)))}" if caps else "")


def format_presets_table(r) -> str:
    """The bicycle presets' training steps, as fractions of the matmul peak of the same run."""
    lines = [f"instruction set: {r.get('isa', 'unknown')}; matmul peak {r['peak_gflops']:.1f} GFLOP/s", "",
             "| preset (train_bicycle.py's step) | batch | fused steps | kFLOP/example | examples/s | epoch (s) | "
             "fraction of peak |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in r["presets"]:
        lines.append(f"| {t['preset']} ({t['network']}) | {t['batch']} | {t['fused_steps']} | "
                     f"{t['flops_per_example'] / 1e3:.0f} | {t['examples_per_s']:,.0f} | {t['epoch_s']:.2f} | "
                     f"{t['fraction_of_peak']:.0%} |")
    return "\n".join(lines)


def format_table(r) -> str:
    lines = [f"machine: {r['machine']['cpu']} ({r['machine']['cores']} cores, {r.get('isa', 'unknown')}), "
             f"TensorFlow {r['machine']['tensorflow']}",
             f"FLOPs: training {r['flops']['train_per_example'] / 1e3:.1f} k/example (forward + backward), "
             f"sampling {r['flops']['sample_per_point_step'] / 1e3:.1f} k/point-step",
             "", "| matmul (rows x 128 @ 128 x 128) | GFLOP/s |", "| --- | --- |"]
    other = r.get("matmul_gflops_other_onednn", {})
    lines += [f"| {rows} rows | {g:.1f}" + (f" (other oneDNN setting: {other[rows]:.1f})" if rows in other else "")
              + " |" for rows, g in r["matmul_gflops"].items()]
    lines += [f"| **peak** | **{r['peak_gflops']:.1f}** |", "",
              "Training: fraction of peak counts the model FLOPs (per-example forward + backward); the "
              "executed column counts what actually runs (fewer above T examples per batch).", "",
              "| training (model.fit) | oneDNN | batch | examples/s | fraction of peak | executed FLOPs fraction |",
              "| --- | --- | --- | --- | --- | --- |"]
    for t in sorted(r["training"], key=lambda t: t["batch"]):
        how = (f"fused_steps={t['fused_steps']}" if t["fused_steps"] > 1
               else f"steps_per_execution={t['steps_per_execution']}") + (", jit_compile" if t["jit_compile"] else "")
        lines.append(f"| {how} | {'on' if t['onednn'] else 'off'} | {t['batch']} | {t['examples_per_s']:,.0f} | "
                     f"{t['fraction_of_peak']:.0%} | {t['executed_fraction_of_peak']:.0%} |")
    for batch, speed in r["pipeline_examples_per_s"].items():
        lines.append(f"| tf.data pipeline alone | {batch} | {speed:,.0f} | - | - |")
    n = r["settings"]["points"]
    lines += ["", f"| sampling {n:,} points | steps | seconds | point-steps/s | fraction of peak |",
              "| --- | --- | --- | --- | --- |"]
    for name, s in r["sampling"].items():
        note = f" (timed {s['measured_steps']} steps, scaled)" if "measured_steps" in s else ""
        lines.append(f"| {name}{note} | {s['steps']} | {s['seconds']:.2f} | {s['point_steps_per_s']:,.0f} | "
                     f"{s['fraction_of_peak']:.0%} |")
    if r.get("presets"):
        lines += ["", format_presets_table(r)]
    lines += ["", "| ratio | value |", "| --- | --- |"]
    for name, value in r["ratios"].items():
        lines.append(f"| {name} | {value:.1%} |" if name == "progress_bar_overhead" else f"| {name} | {value:.1f}x |")
    return "\n".join(lines)


def _machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
            "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def _load_points(path):
    from keras_ddpm.data import load_points

    if path and os.path.exists(path):
        return load_points(path)
    print("bicycle data not found: timing on uniform random points (speed does not depend on the data)")
    return np.random.default_rng(0).uniform(-1, 1, size=(50_468, 2)).astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke test of the benchmark")
    p.add_argument("--points", type=int, default=50_000, help="points to sample (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (default: %(default)s)")
    p.add_argument("--naive-steps", type=int, default=200,
                   help="steps of the naive eager sampler actually timed, scaled to T (default: %(default)s)")
    p.add_argument("--data", default=BICYCLE, help="bicycle.txt (default: ../shared/data/bicycle.txt)")
    p.add_argument("--json", default="outputs/benchmarks/speed.json", help="where to write the JSON (default: %(default)s)")
    p.add_argument("--no-onednn-run", action="store_true",
                   help="skip the second process that times training with the other oneDNN setting")
    p.add_argument("--no-sprites", action="store_true", help="skip the sprite UNet's rows (benchmarks.sprites)")
    p.add_argument("--presets-only", action="store_true",
                   help="only the matmul peak and the bicycle presets' training steps (about a minute; e.g. "
                        "again under XLA_FLAGS=--xla_cpu_max_isa=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)")
    p.add_argument("--training-only", action="store_true", help=argparse.SUPPRESS)  # the second process
    args = p.parse_args(argv)
    results = run(args)
    if args.presets_only:
        write_results(results, format_presets_table(results), args.json)
        return 0
    if args.training_only:
        with open(args.json, "w") as handle:
            json.dump(results, handle)
        return 0
    table = format_table(results)
    if not args.no_sprites:
        from benchmarks import sprites

        print("the sprite UNet (a child process, oneDNN on) ...", flush=True)
        results["sprites"] = sprites_in_subprocess(args)
        table += "\n\n" + sprites.format_table(results["sprites"])
    write_results(results, table, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

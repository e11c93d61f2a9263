"""DDIM (Song et al. 2021): the timestep subsequence, the update, its limits, and classifier-free guidance."""

import keras
import numpy as np
import tensorflow as tf
from helpers import GaussianEpsOracle
from keras import ops

from keras_ddpm.networks import DenoisingMLP
from keras_ddpm.process.forward import extract
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.samplers import DDIMSampler, DDPMSampler, ddim_timesteps
from keras_ddpm.samplers.base import initial_noise, step_noise


def reference_ddim(network, schedule, x, seq, seed, eta, clip=None):
    """Eq. 12 written step by step in NumPy, one eager network call per step."""
    abar = schedule.alphas_cumprod
    x = np.asarray(x, np.float64)
    for j, t in enumerate(seq):
        a_t = abar[t]
        a_s = abar[seq[j + 1]] if j + 1 < len(seq) else 1.0
        eps = np.asarray(network([x.astype(np.float32), np.full(len(x), t)]), np.float64)
        x0 = (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
        if clip is not None:
            x0 = np.clip(x0, *clip)
            eps = (x - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
        sigma = eta * np.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
        x = np.sqrt(a_s) * x0 + np.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps
        if eta > 0:
            x = x + sigma * step_noise(x.shape, tf.constant(seed, tf.int64), tf.constant(t)).numpy()
    return x


class TimestepSequenceTest(tf.test.TestCase):
    def test_start_end_monotone_and_spacing(self):
        for T, S in [(1000, 50), (1000, 100), (1000, 1000), (1000, 999), (1000, 3), (1000, 2),
                     (500, 7), (10, 10), (7, 4), (1000, 333)]:
            seq = ddim_timesteps(T, S).numpy()
            self.assertEqual(len(seq), S, (T, S))
            self.assertEqual(seq[0], T - 1, (T, S))
            self.assertEqual(seq[-1], 0, (T, S))
            gaps = -np.diff(seq)
            self.assertTrue(np.all(gaps >= 1), (T, S))  # strictly decreasing
            spacing = (T - 1) / (S - 1)
            self.assertTrue(set(gaps) <= {np.floor(spacing), np.ceil(spacing)}, (T, S, set(gaps)))

    def test_examples(self):
        self.assertAllEqual(ddim_timesteps(1000, 1), [999])
        self.assertAllEqual(ddim_timesteps(10, 4), [9, 6, 3, 0])
        self.assertAllEqual(ddim_timesteps(5, 5), [4, 3, 2, 1, 0])
        self.assertAllEqual(DDIMSampler(NoiseSchedule("linear", 1000), 50).timestep_sequence,
                            ddim_timesteps(1000, 50))

    def test_previous_step_comes_from_the_sequence(self):
        # T=1000, S=3: spacing 499.5. A "t - T // S" scheduler would step 999 -> 666 -> 333 -> 0;
        # here one step goes from 999 to exactly the next element of the sequence.
        schedule = NoiseSchedule("linear", 1000)
        oracle = GaussianEpsOracle(schedule, mean=[0.5, -0.5], std=0.3)
        sampler = DDIMSampler(schedule, num_steps=3)
        seq = sampler.timestep_sequence
        self.assertAllEqual(seq, [999, 499, 0])
        x_T = initial_noise((64, 2), 0).numpy()
        _, trajectory = sampler.sample(oracle, (64, 2), seed=0, trajectory_steps=[499])
        a_t, a_s = schedule.alphas_cumprod[999], schedule.alphas_cumprod[499]
        eps = np.asarray(oracle([x_T, np.full(64, 999)]), np.float64)
        x0 = (x_T - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
        expected = np.sqrt(a_s) * x0 + np.sqrt(1 - a_s) * eps
        self.assertAllClose(trajectory[499], expected, atol=1e-4)


class DDIMSamplerTest(tf.test.TestCase):
    def setUp(self):
        self.schedule = NoiseSchedule("linear", 100)
        self.network = DenoisingMLP()
        self.network([np.zeros((1, 2), np.float32), np.zeros(1, np.int32)])

    def test_compiled_loop_matches_reference_loop(self):
        for eta, clip, steps in [(0.0, None, 10), (0.5, None, 17), (1.0, (-1.0, 1.0), 100), (0.0, (-0.5, 0.5), 1)]:
            sampler = DDIMSampler(self.schedule, num_steps=steps, eta=eta, clip_x0=clip)
            x_T = initial_noise((40, 2), 4).numpy()
            compiled = sampler.sample(self.network, (40, 2), seed=4)
            expected = reference_ddim(self.network, self.schedule, x_T, sampler.timestep_sequence, 4, eta, clip)
            self.assertAllClose(compiled, expected, atol=2e-4, msg=f"eta={eta} clip={clip} S={steps}")

    def test_eta_zero_is_deterministic(self):
        sampler = DDIMSampler(self.schedule, num_steps=20, eta=0.0)
        x_T = initial_noise((100, 2), 1)
        a, _ = sampler.run(self.network, x_T, seed=1)
        b, _ = sampler.run(self.network, x_T, seed=2)  # the seed only feeds z, which eta = 0 never draws
        self.assertAllEqual(a, b)
        self.assertAllEqual(sampler.sample(self.network, (100, 2), seed=5),
                            sampler.sample(self.network, (100, 2), seed=5))
        noisy = DDIMSampler(self.schedule, num_steps=20, eta=1.0)
        c, _ = noisy.run(self.network, x_T, seed=1)
        d, _ = noisy.run(self.network, x_T, seed=2)
        self.assertGreater(np.abs(c - d).mean(), 1e-3)

    def test_eta_one_all_steps_is_ddpm(self):
        # Same update as DDPM with the posterior variance, and the same z for the same seed.
        for jit in (False, True):
            ddim = DDIMSampler(self.schedule, num_steps=100, eta=1.0, jit_compile=jit)
            ddpm = DDPMSampler(self.schedule, variance="posterior", jit_compile=jit)
            self.assertAllClose(ddim.sample(self.network, (64, 2), seed=9),
                                ddpm.sample(self.network, (64, 2), seed=9), atol=1e-4)

    def test_matches_gaussian_target_in_distribution(self):
        schedule = NoiseSchedule("linear", 1000)
        mean, std = np.array([1.0, -2.0]), 0.5
        oracle = GaussianEpsOracle(schedule, mean=mean, std=std)
        for steps, eta in [(1000, 1.0), (1000, 0.0), (250, 0.5)]:
            x = DDIMSampler(schedule, num_steps=steps, eta=eta, jit_compile=True).sample(oracle, (20000, 2), seed=2)
            self.assertAllClose(x.mean(0), mean, atol=0.03, msg=f"S={steps} eta={eta}")
            self.assertAllClose(x.std(0), [std, std], rtol=0.03, msg=f"S={steps} eta={eta}")
        # Fewer deterministic steps: a discretisation error (the spread shrinks) that vanishes as S grows.
        errors = [np.abs(DDIMSampler(schedule, num_steps=s, jit_compile=True).sample(oracle, (20000, 2), seed=2)
                         .std(0) - std).mean() for s in (10, 50, 200)]
        self.assertTrue(errors[0] > errors[1] > errors[2], errors)

    def test_graph_api_with_tensor_parameters(self):
        sampler = DDIMSampler(self.schedule, num_steps=10, eta=0.0)

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32),
                                      tf.TensorSpec([], tf.int64)])
        def sample(num_steps, eta, seed):
            x_T = initial_noise(tf.stack([30, 2]), seed)
            return sampler.generate(self.network, x_T, seed, num_steps=num_steps, eta=eta)

        for steps, eta in [(10, 0.0), (25, 0.7)]:
            expected = DDIMSampler(self.schedule, num_steps=steps, eta=eta).sample(self.network, (30, 2), seed=3)
            self.assertAllClose(sample(steps, eta, 3), expected, atol=1e-5)
        for steps, eta in [(0, 0.0), (101, 0.0), (10, 1.5), (10, -0.1)]:
            with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "num_steps must be in 1..100"):
                sample(steps, eta, 3)

    def test_bad_arguments(self):
        for steps in (0, 101, 2.5, True, -3):
            with self.assertRaisesRegex(ValueError, r"num_steps must be an integer in 1..100"):
                DDIMSampler(self.schedule, num_steps=steps)
        for eta in (-0.01, 1.01):
            with self.assertRaisesRegex(ValueError, r"eta must be in \[0, 1\]"):
                DDIMSampler(self.schedule, eta=eta)
        with self.assertRaisesRegex(ValueError, "clip_x0"):
            DDIMSampler(self.schedule, clip_x0=(1.0, -1.0))


@keras.saving.register_keras_serializable(package="keras_ddpm_tests")
class TwoClassOracle(keras.Model):
    """Exact eps for class-conditional Gaussians: class 0 at ``mean``, class 1 at ``-mean``, "null"
    (id 2) the origin; all with the same std. Guidance then has a closed form: eps is affine in the
    mean, so guidance weight w samples the Gaussian centred at ``w * class mean``."""

    num_classes = 2

    def __init__(self, schedule, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.schedule = schedule
        self.means = np.array([mean, -np.asarray(mean), np.zeros_like(mean)], np.float32)
        self.std = float(std)

    def call(self, inputs):
        x_t, t, labels = inputs
        abar = extract(self.schedule.tensor("alphas_cumprod"), t, 2)
        mean = ops.take(self.means, labels, axis=0)
        return ops.sqrt(1.0 - abar) * (x_t - ops.sqrt(abar) * mean) / (abar * self.std**2 + 1.0 - abar)


class GuidanceTest(tf.test.TestCase):
    def test_labels_and_guidance(self):
        schedule = NoiseSchedule("linear", 1000)  # alpha-bar_T ~ 0, so x_T ~ N(0, I) is right
        mean = np.array([1.0, 2.0], np.float32)
        oracle = TwoClassOracle(schedule, mean, 0.2)
        labels = np.repeat([0, 1], 2000)
        for sampler in (DDIMSampler(schedule, num_steps=100, jit_compile=True), DDPMSampler(schedule, jit_compile=True)):
            for w in (1.0, 0.0, 2.0):
                x = sampler.sample(oracle, (4000, 2), seed=0, labels=labels, guidance_scale=w)
                self.assertAllClose(x[:2000].mean(0), w * mean, atol=0.05, msg=f"{type(sampler).__name__} w={w}")
                self.assertAllClose(x[2000:].mean(0), -w * mean, atol=0.05, msg=f"{type(sampler).__name__} w={w}")
            unconditional = sampler.sample(oracle, (2000, 2), seed=0)  # no labels: the "null" class
            self.assertAllClose(unconditional.mean(0), [0.0, 0.0], atol=0.05)

    def test_label_errors(self):
        schedule = NoiseSchedule("linear", 20)
        sampler = DDIMSampler(schedule, num_steps=5)
        oracle = TwoClassOracle(schedule, [1.0, 1.0], 0.2)
        with self.assertRaisesRegex(ValueError, "labels must be 4 integer class ids"):
            sampler.sample(oracle, (4, 2), labels=[0, 1])
        with self.assertRaisesRegex(ValueError, r"class ids in 0..1"):
            sampler.sample(oracle, (2, 2), labels=[0, 3])
        with self.assertRaisesRegex(ValueError, "guidance_scale needs labels"):
            sampler.sample(oracle, (2, 2), guidance_scale=3.0)
        mlp = DenoisingMLP()
        with self.assertRaisesRegex(ValueError, "not class-conditional"):
            sampler.sample(mlp, (2, 2), labels=[0, 1])

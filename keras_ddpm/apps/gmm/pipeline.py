"""The score-based models assignment end to end: analytic scores of a 2D Gaussian mixture, denoising
score matching at fixed noise levels and a noise-conditional score network on geometric levels,
score ascent, Langevin and annealed Langevin sampling, figures and ``metrics.json``.
``train_score_gmm.py`` parses the flags and calls `run`.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_ddpm.apps.gmm import (
    GaussianMixture,
    NoiseConditionalScoreNetwork,
    annealed_langevin_dynamics,
    annealed_step_sizes,
    geometric_sigmas,
    langevin_dynamics,
    plots,
    score_ascent,
    score_error_against_mixture,
    train_dsm,
)
from keras_ddpm.training.run_folder import RunLock

#: The assignment's targets for annealed Langevin with the learned score.
TARGET_WEIGHT_ERROR = 0.03
TARGET_MEAN_ERROR = 0.2

#: Sampler runs: name -> panel title (None: not drawn in samples.png).
SAMPLER_TITLES = {
    "score_ascent_learned_dsm": None,
    "langevin_analytic_clean_score": "Langevin, analytic score",
    "langevin_learned_dsm": "Langevin, DSM smallest sigma",
    "annealed_langevin_analytic_noised_scores": "annealed Langevin, analytic",
    "annealed_langevin_learned_ncsn": "annealed Langevin, NCSN",
}



def run(args) -> int:
    """Train, sample and write every output as the flags ``args`` say (one run per ``args.out`` at a time)."""
    if args.sigma_min > args.sigma_max:
        raise ValueError(f"--sigma-min must be <= --sigma-max, got {args.sigma_min} > {args.sigma_max}")
    with RunLock(args.out):  # refuses at once if another run writes into --out
        return train_and_sample(args, Path(args.out))


def fixed_sigma_score(network, sigma):
    """NumPy view of a learned score at one noise level, for figures and error measurements."""
    return lambda x: network.score(np.asarray(x, np.float32), sigma).numpy()


def field_panel(title, mixture, sigma, score_fn=None):
    """A `plots.score_field_figure` panel over the density of the mixture noised at ``sigma``."""
    noised = mixture.noised(sigma)
    return {"title": title, "log_prob_fn": noised.log_prob, "score_fn": score_fn or noised.score}


def summary(stats: dict) -> str:
    weights = ", ".join(f"{w:.3f}" for w in stats["weights"])
    worst_mean = stats["max_mean_error"]
    mean_text = "n/a" if worst_mean is None else f"{worst_mean:.3f}"
    return (f"weights [{weights}]\nmax |w err| {stats['max_weight_error']:.3f}\n"
            f"max mean err {mean_text}")


def train_models(args, mixture, data, sigmas, extent, out):
    """Single-level DSM models and the NCSN; their figures; relative score errors and losses."""
    data_std = float(data.std())
    losses, errors, dsm_networks = {}, {"dsm": {}, "ncsn": {}}, {}

    def measure(network, sigma):
        return score_error_against_mixture(fixed_sigma_score(network, sigma), mixture, sigma,
                                           args.eval_points, seed=args.seed + 100, grid_extent=extent)

    levels = sorted(set(args.dsm_sigmas))
    for i, sigma in enumerate(levels):
        network = NoiseConditionalScoreNetwork(hidden_units=args.hidden_units, data_std=data_std,
                                               name=f"dsm_sigma_{i}")
        print(f"model {i + 1}/{len(levels) + 1}: DSM at sigma = {sigma:g}, {args.dsm_steps} steps")
        _, losses[f"DSM sigma={sigma:g}"] = train_dsm(
            network, data, [sigma], args.dsm_steps, args.batch_size, args.lr,
            weighting="none", seed=args.seed + 1 + i, epochs=args.epochs, progress=True)
        dsm_networks[sigma] = network
        errors["dsm"][f"{sigma:g}"] = measure(network, sigma)
    rows = [[field_panel(f"analytic, sigma={s:g}", mixture, s),
             field_panel(f"DSM, sigma={s:g} (rel. err "
                         f"{errors['dsm'][f'{s:g}']['on_noised_samples']:.3f})",
                         mixture, s, fixed_sigma_score(net, s))]
            for s, net in dsm_networks.items()]
    plots.score_field_figure(rows, extent, out / "dsm_fields.png", share="row")

    ncsn = NoiseConditionalScoreNetwork(hidden_units=args.hidden_units, data_std=data_std,
                                        name="ncsn")
    print(f"model {len(levels) + 1}/{len(levels) + 1}: the noise-conditional network on {len(sigmas)} levels, "
          f"{args.ncsn_steps} steps")
    _, losses["NCSN"] = train_dsm(ncsn, data, sigmas, args.ncsn_steps, args.batch_size,
                                  args.lr, weighting="sigma2", seed=args.seed + 50,
                                  epochs=args.epochs, progress=True)
    ncsn.save(out / "ncsn.keras")
    for sigma in sigmas:
        errors["ncsn"][f"{sigma:.4g}"] = measure(ncsn, sigma)
    picks = np.unique(np.linspace(0, len(sigmas) - 1, min(4, len(sigmas))).round().astype(int))
    shown = [float(sigmas[i]) for i in picks]
    plots.score_field_figure(
        [[field_panel(f"analytic, sigma={s:.3g}", mixture, s) for s in shown],
         [field_panel(f"NCSN, sigma={s:.3g} (rel. err "
                      f"{errors['ncsn'][f'{s:.4g}']['on_noised_samples']:.3f})",
                      mixture, s, fixed_sigma_score(ncsn, s)) for s in shown]],
        extent, out / "ncsn_fields.png", share="column")
    plots.loss_figure(losses, out / "losses.png")
    return dsm_networks, ncsn, errors, losses


def run_samplers(args, mixture, plain_score, sigma_plain, ncsn, sigmas, extent, out):
    """Every sampler from the same uniform starts; recovered statistics; scatter and paths."""
    rng = np.random.default_rng(args.seed)
    x_init = rng.uniform(-args.init_range, args.init_range, size=(args.num_samples, 2))
    plain = {"step_size": args.langevin_step_size, "num_steps": args.langevin_steps}
    annealed = {"sigmas": sigmas, "step_size": args.annealed_step_size,
                "steps_per_level": args.steps_per_level}
    samples = {
        "score_ascent_learned_dsm": score_ascent(plain_score, x_init, **plain),
        "langevin_analytic_clean_score": langevin_dynamics(
            mixture.score_tf, x_init, seed=args.seed + 1, **plain),
        "langevin_learned_dsm": langevin_dynamics(plain_score, x_init, seed=args.seed + 1, **plain),
        "annealed_langevin_analytic_noised_scores": annealed_langevin_dynamics(
            mixture.score_tf, x_init, seed=args.seed + 2, **annealed),
        "annealed_langevin_learned_ncsn": annealed_langevin_dynamics(
            ncsn.score, x_init, seed=args.seed + 2, **annealed),
    }
    # Each sampler targets the mixture noised at the level of its score: 0, sigma_plain, sigma_min.
    target_sigma = {"score_ascent_learned_dsm": 0.0, "langevin_analytic_clean_score": 0.0,
                    "langevin_learned_dsm": sigma_plain,
                    "annealed_langevin_analytic_noised_scores": sigmas[-1],
                    "annealed_langevin_learned_ncsn": sigmas[-1]}
    recovered = {name: mixture.recovered_statistics(np.asarray(x), noise_sigma=target_sigma[name])
                 for name, x in samples.items()}

    titles = {name: title.replace("smallest sigma", f"sigma={sigma_plain:g}")
              for name, title in SAMPLER_TITLES.items() if title}
    panels = {"true mixture": mixture.sample(args.num_samples, seed=args.seed + 4)}
    panels.update({titles[name]: np.asarray(samples[name]) for name in titles})
    plots.scatter_figure(panels, extent, out / "samples.png", means=mixture.means,
                         log_prob_fn=mixture.log_prob,
                         annotations={titles[n]: summary(recovered[n]) for n in titles})

    angles = np.linspace(0, 2 * np.pi, args.num_trajectories, endpoint=False) + 0.3
    starts = 0.85 * args.init_range * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    seed = args.seed + 3
    paths = {
        f"score ascent (DSM sigma={sigma_plain:g})":
            score_ascent(plain_score, starts, return_trajectory=True, **plain)[1],
        f"Langevin (DSM sigma={sigma_plain:g}), every 5th step":
            langevin_dynamics(plain_score, starts, seed=seed, return_trajectory=True, **plain)[1][::5],
        # One point per level (the chain at the end of each): the large-sigma steps are several
        # units long and would hide everything else.
        "annealed Langevin (NCSN), end of each level":
            annealed_langevin_dynamics(ncsn.score, starts, seed=seed, return_trajectory=True,
                                       **annealed)[1][::args.steps_per_level],
    }
    plots.trajectories_figure(mixture.log_prob, {k: np.asarray(v) for k, v in paths.items()},
                              extent, out / "trajectories.png")
    return recovered


def train_and_sample(args, out: Path) -> int:
    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)

    mixture = GaussianMixture.default()
    sigmas = geometric_sigmas(args.sigma_max, args.sigma_min, args.num_levels)
    extent = plots.mixture_extent(mixture.means, mixture.covariances)
    data = mixture.sample(args.train_size, seed=args.seed).astype(np.float32)
    plots.score_field_figure(
        [[{"title": "p(x) and its analytic score", "log_prob_fn": mixture.log_prob,
           "score_fn": mixture.score}]], extent, out / "score_field.png")

    dsm_networks, ncsn, errors, losses = train_models(args, mixture, data, sigmas, extent, out)
    trained = time.perf_counter()
    sigma_plain = min(dsm_networks)
    plain_score = functools.partial(dsm_networks[sigma_plain].score, sigma=sigma_plain)
    print(f"sampling {args.num_samples} chains with score ascent, Langevin and annealed Langevin "
          f"({len(SAMPLER_TITLES)} runs), and drawing")
    recovered = run_samplers(args, mixture, plain_score, sigma_plain, ncsn, sigmas, extent, out)

    best = recovered["annealed_langevin_learned_ncsn"]
    metrics = {
        "mixture": mixture.get_config(),
        "ncsn_sigmas": sigmas.tolist(),
        "annealed_step_sizes": annealed_step_sizes(sigmas, args.annealed_step_size).tolist(),
        "relative_score_error": errors,
        "final_training_loss": {name: values[-1] for name, values in losses.items()},
        "recovered": recovered,
        "targets": {
            "weight_error_max": TARGET_WEIGHT_ERROR,
            "mean_error_max": TARGET_MEAN_ERROR,
            "annealed_learned_weights_reached": best["max_weight_error"] <= TARGET_WEIGHT_ERROR,
            "annealed_learned_means_reached": best["max_mean_error"] is not None
            and best["max_mean_error"] <= TARGET_MEAN_ERROR,
            "plain_langevin_learned_weight_error":
                recovered["langevin_learned_dsm"]["max_weight_error"],
        },
        "timings_s": {"training": trained - start, "sampling_and_figures": time.perf_counter() - trained,
                      "total": time.perf_counter() - start},
        "args": vars(args),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plain = recovered["langevin_learned_dsm"]
    print(f"annealed Langevin (NCSN): {summary(best)}".replace("\n", "; "))
    print(f"plain Langevin (DSM sigma={sigma_plain:g}): {summary(plain)}".replace("\n", "; "))
    print(f"wrote {out} in {metrics['timings_s']['total']:.1f} s")
    return 0



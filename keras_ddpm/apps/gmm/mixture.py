"""`GaussianMixture`: a Gaussian mixture in closed form, with its analytic score.

The density is ``p(x) = sum_k w_k N(x; mu_k, Sigma_k)`` and its score (Hyvarinen 2005) is

    grad_x log p(x) = sum_k r_k(x) * (-Sigma_k^{-1} (x - mu_k)),
    r_k(x) = softmax_k(log w_k + log N(x; mu_k, Sigma_k))      (posterior responsibilities).

Both are evaluated from the per-component log-terms with log-sum-exp / softmax, so points far from
every component (where each ``N(x; mu_k, Sigma_k)`` underflows to 0) still get finite, exact
values. Perturbing the data with ``N(0, sigma^2 I)`` noise gives the mixture with covariances
``Sigma_k + sigma^2 I`` (the convolution of two Gaussians), so the noised score of Vincent 2011 and
Song & Ermon 2019 is known in closed form too: ``score(x, sigma)`` / `noised`.

One implementation serves NumPy (float64, `log_prob`/`score`) and compiled TensorFlow code
(`log_prob_tf`/`score_tf`, any float dtype, ``sigma`` may be one value per example): every
covariance is diagonalised once, ``Sigma_k = U_k diag(lambda_k) U_k^T``, and then
``Sigma_k + s^2 I = U_k diag(lambda_k + s^2) U_k^T`` needs no matrix inverse inside the graph.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from keras_ddpm.utils import checks

#: Tolerance on ``sum(weights) == 1``.
WEIGHT_SUM_ATOL = 1e-6


class GaussianMixture:
    """A mixture of ``K`` Gaussians in ``D`` dimensions with validated parameters.

    Args:
        weights: ``(K,)`` mixture weights, each > 0, summing to 1 (within 1e-6).
        means: ``(K, D)`` component means.
        covariances: ``(K, D, D)`` symmetric positive-definite covariances.

    Raises:
        ValueError: naming the offending value when a shape, a weight or a covariance is wrong.
    """

    def __init__(self, weights, means, covariances):
        weights = np.asarray(weights, dtype=np.float64)
        means = np.asarray(means, dtype=np.float64)
        covariances = np.asarray(covariances, dtype=np.float64)
        if weights.ndim != 1 or weights.size < 1:
            raise ValueError(f"weights must be a non-empty 1-D sequence, got shape {weights.shape}")
        k = weights.size
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError(f"weights must be finite and > 0, got {weights.tolist()}")
        if abs(weights.sum() - 1.0) > WEIGHT_SUM_ATOL:
            raise ValueError(
                f"weights must sum to 1, got {weights.tolist()} (sum {weights.sum():.6g})"
            )
        if means.ndim != 2 or means.shape[0] != k or means.shape[1] < 1:
            raise ValueError(
                f"means must have shape (K, D) with K = {k} (the number of weights), got {means.shape}"
            )
        d = means.shape[1]
        if not np.all(np.isfinite(means)):
            raise ValueError(f"means must be finite, got {means.tolist()}")
        if covariances.shape != (k, d, d):
            raise ValueError(
                f"covariances must have shape (K, D, D) = {(k, d, d)}, got {covariances.shape}"
            )
        if not np.all(np.isfinite(covariances)):
            raise ValueError(f"covariances must be finite, got {covariances.tolist()}")
        for i, cov in enumerate(covariances):
            if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-10):
                raise ValueError(f"covariance {i} must be symmetric, got {cov.tolist()}")
            eigenvalues = np.linalg.eigvalsh(cov)
            if eigenvalues.min() <= 1e-12 * max(1.0, eigenvalues.max()):
                raise ValueError(
                    f"covariance {i} must be positive definite, got {cov.tolist()} "
                    f"with eigenvalues {eigenvalues.tolist()}"
                )
        self._weights = weights
        self._means = means
        self._covariances = 0.5 * (covariances + np.swapaxes(covariances, 1, 2))
        # Sigma_k = U_k diag(lambda_k) U_k^T, the basis of every density / score evaluation.
        self._eigenvalues, self._eigenvectors = np.linalg.eigh(self._covariances)
        self._cholesky = np.linalg.cholesky(self._covariances)

    @classmethod
    def default(cls) -> "GaussianMixture":
        """The assignment's mixture: weights 0.8 / 0.2, means (-5, -5) and (5, 5), correlated covariances.

        The components are ~10 standard deviations apart, so plain Langevin dynamics essentially
        never crosses between them (the failure annealed Langevin fixes).
        """
        return cls(
            weights=[0.8, 0.2],
            means=[[-5.0, -5.0], [5.0, 5.0]],
            covariances=[[[1.5, 0.5], [0.5, 1.0]], [[1.0, -0.4], [-0.4, 1.0]]],
        )

    # ------------------------------------------------------------------ parameters
    @property
    def weights(self) -> np.ndarray:
        return self._weights.copy()

    @property
    def means(self) -> np.ndarray:
        return self._means.copy()

    @property
    def covariances(self) -> np.ndarray:
        return self._covariances.copy()

    @property
    def num_components(self) -> int:
        return self._weights.size

    @property
    def dim(self) -> int:
        return self._means.shape[1]

    def get_config(self) -> dict:
        """The parameters as JSON-friendly lists (``GaussianMixture(**config)`` rebuilds it)."""
        return {
            "weights": self._weights.tolist(),
            "means": self._means.tolist(),
            "covariances": self._covariances.tolist(),
        }

    def noised(self, sigma) -> "GaussianMixture":
        """The distribution of ``x + sigma z``, ``z ~ N(0, I)``: covariances ``Sigma_k + sigma^2 I``."""
        sigma = checks.positive_float("sigma", sigma)
        eye = np.eye(self.dim)
        return GaussianMixture(self._weights, self._means, self._covariances + sigma**2 * eye)

    # ------------------------------------------------------------------ sampling
    def sample(self, n, seed=0, return_components: bool = False):
        """Draw ``n`` samples ``(n, D)`` float64 with a NumPy generator seeded by ``seed``.

        Ancestral sampling: ``k ~ Categorical(w)``, then ``x = mu_k + L_k z`` with
        ``Sigma_k = L_k L_k^T``. With ``return_components`` also returns the ``(n,)`` labels ``k``.
        """
        n = checks.positive_int("n", n)
        seed = checks.integer("seed", seed)
        rng = np.random.default_rng(seed)
        components = rng.choice(self.num_components, size=n, p=self._weights)
        z = rng.standard_normal((n, self.dim))
        x = self._means[components] + np.einsum("nij,nj->ni", self._cholesky[components], z)
        return (x, components) if return_components else x

    # ------------------------------------------------------------------ TensorFlow core
    def _log_terms(self, x, sigma):
        """Per-component ``log w_k + log N(x; mu_k, Sigma_k + sigma^2 I)`` ``(n, K)`` and the
        whitened residuals ``(lambda_k + sigma^2)^{-1} U_k^T (x - mu_k)`` ``(n, K, D)``."""
        dtype = x.dtype
        means = tf.constant(self._means, dtype=dtype)
        eigenvectors = tf.constant(self._eigenvectors, dtype=dtype)
        eigenvalues = tf.constant(self._eigenvalues, dtype=dtype)
        sigma = tf.cast(sigma, dtype)
        sigma2 = tf.reshape(tf.square(sigma), (-1, 1, 1))  # scalar or (n,) -> broadcasts over (n, K, D)
        variances = eigenvalues[tf.newaxis] + sigma2  # (1 or n, K, D)
        projections = tf.einsum("nkd,kde->nke", x[:, tf.newaxis, :] - means[tf.newaxis], eigenvectors)
        mahalanobis = tf.reduce_sum(tf.square(projections) / variances, axis=-1)
        log_det = tf.reduce_sum(tf.math.log(variances), axis=-1)
        log_normal = -0.5 * (self.dim * math.log(2.0 * math.pi) + log_det + mahalanobis)
        log_terms = tf.constant(np.log(self._weights), dtype=dtype)[tf.newaxis] + log_normal
        return log_terms, projections / variances

    def log_prob_tf(self, x, sigma=0.0):
        """``log p_sigma(x)`` ``(n,)`` in ``x``'s dtype, graph-safe; ``sigma``: scalar or ``(n,)``."""
        x = tf.convert_to_tensor(x)
        log_terms, _ = self._log_terms(x, sigma)
        return tf.reduce_logsumexp(log_terms, axis=1)

    def score_tf(self, x, sigma=0.0):
        """``grad_x log p_sigma(x)`` ``(n, D)`` in ``x``'s dtype, graph-safe; ``sigma``: scalar or ``(n,)``.

        ``sum_k r_k(x) * (-(Sigma_k + sigma^2 I)^{-1} (x - mu_k))`` with ``r = softmax(log-terms)``.
        """
        x = tf.convert_to_tensor(x)
        log_terms, whitened = self._log_terms(x, sigma)
        responsibilities = tf.nn.softmax(log_terms, axis=1)
        eigenvectors = tf.constant(self._eigenvectors, dtype=x.dtype)
        component_scores = -tf.einsum("nke,kde->nkd", whitened, eigenvectors)
        return tf.reduce_sum(responsibilities[:, :, tf.newaxis] * component_scores, axis=1)

    def responsibilities_tf(self, x, sigma=0.0):
        """Posterior component probabilities ``r_k(x)`` ``(n, K)``."""
        x = tf.convert_to_tensor(x)
        log_terms, _ = self._log_terms(x, sigma)
        return tf.nn.softmax(log_terms, axis=1)

    # ------------------------------------------------------------------ NumPy (float64) API
    def _numpy_call(self, method, x, sigma):
        x = checks.points("x", x, self.dim)
        if np.ndim(sigma) == 0:
            sigma = checks.positive_float("sigma", sigma, allow_zero=True)
        else:
            sigma = np.asarray(sigma, dtype=np.float64)
            if sigma.shape != (x.shape[0],) or not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
                raise ValueError(
                    f"sigma must be a number >= 0 or one finite value >= 0 per point "
                    f"(shape ({x.shape[0]},)), got shape {sigma.shape}"
                )
        return method(tf.constant(x, tf.float64), tf.constant(sigma, tf.float64)).numpy()

    def log_prob(self, x, sigma=0.0) -> np.ndarray:
        """``log p_sigma(x)`` for ``x`` ``(n, D)``, float64; ``sigma = 0`` is the clean mixture."""
        return self._numpy_call(self.log_prob_tf, x, sigma)

    def score(self, x, sigma=0.0) -> np.ndarray:
        """The analytic score ``grad_x log p_sigma(x)`` ``(n, D)``, float64."""
        return self._numpy_call(self.score_tf, x, sigma)

    def responsibilities(self, x, sigma=0.0) -> np.ndarray:
        """Posterior responsibilities ``(n, K)``, float64."""
        return self._numpy_call(self.responsibilities_tf, x, sigma)

    def assign(self, x) -> np.ndarray:
        """The component of highest posterior responsibility under this mixture, ``(n,)`` ints."""
        return np.argmax(self.responsibilities(x), axis=1)

    # ------------------------------------------------------------------ measurement
    def recovered_statistics(self, samples, noise_sigma=0.0) -> dict:
        """Weights, means and covariances recovered from ``samples``, against this mixture.

        Each sample goes to the component of highest posterior responsibility under *this* (the
        true, clean) mixture; per component we report the fraction of samples (the recovered
        weight), their mean and (unbiased) covariance, and the errors: absolute weight error,
        Euclidean mean error, Frobenius covariance error. Covariances are compared with
        ``Sigma_k + noise_sigma^2 I`` (a sampler that stops at noise level ``sigma_min`` targets
        the noised mixture). Components with fewer than 2 samples get ``None`` statistics.
        Returns plain Python lists / floats, ready for ``json.dump``.
        """
        samples = checks.points("samples", samples, self.dim)
        noise_sigma = checks.positive_float("noise_sigma", noise_sigma, allow_zero=True)
        labels = self.assign(samples)
        n = samples.shape[0]
        reference_covs = self._covariances + noise_sigma**2 * np.eye(self.dim)
        counts, weights, means, covs = [], [], [], []
        weight_errors, mean_errors, cov_errors = [], [], []
        for k in range(self.num_components):
            members = samples[labels == k]
            counts.append(int(members.shape[0]))
            weights.append(members.shape[0] / n)
            weight_errors.append(abs(weights[-1] - self._weights[k]))
            if members.shape[0] >= 2:
                mean = members.mean(axis=0)
                cov = np.cov(members, rowvar=False).reshape(self.dim, self.dim)
                means.append(mean.tolist())
                covs.append(cov.tolist())
                mean_errors.append(float(np.linalg.norm(mean - self._means[k])))
                cov_errors.append(float(np.linalg.norm(cov - reference_covs[k])))
            else:
                means.append(None)
                covs.append(None)
                mean_errors.append(None)
                cov_errors.append(None)

        def worst(errors):
            return None if any(e is None for e in errors) else float(max(errors))

        return {
            "num_samples": int(n),
            "counts": counts,
            "weights": [float(w) for w in weights],
            "means": means,
            "covariances": covs,
            "true_weights": self._weights.tolist(),
            "true_means": self._means.tolist(),
            "reference_covariances": reference_covs.tolist(),
            "noise_sigma": noise_sigma,
            "weight_abs_errors": [float(e) for e in weight_errors],
            "max_weight_error": float(max(weight_errors)),
            "mean_errors": mean_errors,
            "max_mean_error": worst(mean_errors),
            "covariance_frobenius_errors": cov_errors,
            "max_covariance_error": worst(cov_errors),
        }

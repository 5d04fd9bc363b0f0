"""Numerics shared by the messaging fits: a batched small NNLS and circular block-bootstrap counts."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["nnls_gram", "block_counts"]


def nnls_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Minimise ``t'Gt - 2g't`` subject to ``t >= 0`` for a batch of small problems.

    The constrained optimum solves the normal equations on its free set, so with ``p`` parameters it
    is the best of the ``2**p - 1`` free-set solutions that are feasible (plus ``t = 0``). That is
    exact and vectorises over the batch, where scipy's NNLS would loop in Python; it is meant for
    ``p <= 6``.

    Parameters
    ----------
    gram : ndarray, shape (..., p, p)
        Positive (semi)definite Gram matrices (well scaled).
    rhs : ndarray, shape (..., p)

    Returns
    -------
    ndarray, shape (..., p)
    """
    p = rhs.shape[-1]
    batch = rhs.shape[:-1]
    best = np.zeros(rhs.shape)
    best_obj = np.zeros(batch)  # objective of t = 0
    # a relative ridge keeps exactly collinear resamples solvable; it is far below the data's scale
    ridge = 1e-12 * np.trace(gram, axis1=-2, axis2=-1)[..., None, None] * np.eye(p)
    gram = gram + ridge
    for mask in range(1, 2**p):
        free = [j for j in range(p) if mask >> j & 1]
        sub = gram[..., free, :][..., :, free]
        theta = np.linalg.solve(sub, rhs[..., free, None])[..., 0]
        feasible = np.all(theta >= 0, axis=-1)
        obj = -np.einsum("...i,...i->...", rhs[..., free], theta)
        take = feasible & (obj < best_obj)
        if np.any(take):
            full = np.zeros(rhs.shape)
            full[..., free] = theta
            best = np.where(take[..., None], full, best)
            best_obj = np.where(take, obj, best_obj)
    return best


def block_counts(n_days: int, block: int, n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """How often each day appears in each circular block-bootstrap resample, shape (n_rep, n_days)."""
    block = max(1, min(block, n_days))
    n_blocks = math.ceil(n_days / block)
    starts = rng.integers(0, n_days, size=(n_rep, n_blocks))
    days = (starts[:, :, None] + np.arange(block)).reshape(n_rep, -1)[:, :n_days] % n_days
    rows = np.repeat(np.arange(n_rep), n_days)
    return np.bincount(rows * n_days + days.ravel(), minlength=n_rep * n_days).reshape(
        n_rep, n_days
    ).astype(float)

"""Candidate growth shapes for :func:`capacity.growth.fit_growth` (helper module, not public).

Every candidate is fitted to the observed counts and then reduced to the one thing the forecast
needs: its mean path of future counts, **anchored** at the last observed value (the candidate's
increments are added to the last count, so no forecast starts with a jump back onto a curve that
missed the latest observation).

==============  ==========================================================================
name            shape
==============  ==========================================================================
``piecewise``   the rate of new apps is piecewise constant (see :mod:`capacity.growth.regimes`);
                the future keeps the last regime's rate (its quasi-Poisson posterior mean)
``linear``      ``y = a + b t`` (least squares on all data)
``exponential`` ``log y = a + g t`` (least squares, weighted by ``y`` so recent, larger counts
                dominate as their relative noise is smaller)
``logistic``    ``dy/dt = r y (1 - y / K)``: the logistic curve, fitted to the rate of new apps
                against the count (where the slowing that reveals ``K`` shows first);
                ``K >= max(y)`` or fixed
``gompertz``    ``dy/dt = r y log(K / y)``: the Gompertz curve, fitted the same way
``local_trend`` local linear trend on ``log(1 + y)`` (statsmodels ``UnobservedComponents``)
==============  ==========================================================================

A saturating fit whose best cap is the largest value seen is dropped: the unconstrained cap would
lie below the count, i.e. the rate is not falling the way the curve requires.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["MODELS", "Candidate", "fit_curve", "fit_local_trend", "piecewise_candidate"]

MODELS = ("piecewise", "linear", "exponential", "logistic", "gompertz", "local_trend")
_YEAR = 365.25
#: a fitted cap this many times the largest value seen is at its upper bound: not determined
_CAP_MAX_RATIO = 50.0


@dataclass(frozen=True, eq=False)
class Candidate:
    """One fitted candidate shape.

    Attributes
    ----------
    name : str
        One of :data:`MODELS`.
    params : dict
        Fitted parameters in natural units (apps, apps/day, per year, days since the first
        observation).
    rate_now : float
        Mean rate of new apps on the first forecast day, apps/day.
    note : str
        Anything the planner should know (for instance a poorly determined cap).
    """

    name: str
    params: dict[str, float]
    rate_now: float
    note: str = ""
    t_last: float = 0.0
    y_last: float = 0.0
    monotone: bool = True
    cap_determined: bool | None = None

    def mean_path(self, horizon: int) -> np.ndarray:
        """Mean future counts for days ``1..horizon`` after the last observation."""
        h = np.arange(1, horizon + 1, dtype=float)
        p = self.params
        if self.name in ("piecewise", "linear"):
            level = self.y_last + p["rate"] * h
        elif self.name == "exponential":
            level = self.y_last * np.exp(np.minimum(p["growth_per_day"] * h, 50.0))
        elif self.name == "local_trend":
            base = 1.0 + self.y_last
            level = self.y_last + base * np.expm1(np.minimum(p["slope_per_day"] * h, 50.0))
        else:
            # the ODE integrated from the last observed count (exact solutions)
            k, r = p["cap"], p["r_per_year"] / _YEAR
            y0 = max(self.y_last, 1e-9)
            if y0 >= k:
                level = np.full(horizon, self.y_last)
            elif self.name == "logistic":
                level = k / (1.0 + (k - y0) / y0 * np.exp(-r * h))
            else:
                level = k * np.exp(np.log(y0 / k) * np.exp(-r * h))
        if self.monotone:
            level = np.maximum.accumulate(np.maximum(level, self.y_last))
        return np.maximum(level, 0.0)

    def increments(self, horizon: int) -> np.ndarray:
        """Mean new apps on each of days ``1..horizon`` (apps/day)."""
        level = self.mean_path(horizon)
        return np.diff(np.concatenate([[self.y_last], level]))


def _clean(t: np.ndarray, y: np.ndarray, y_last: float, t_last: float, monotone: bool, **kw):
    return {"t_last": float(t_last), "y_last": float(y_last), "monotone": monotone, **kw}


def piecewise_candidate(
    rate: float, t_last: float, y_last: float, monotone: bool, n_regimes: int
) -> Candidate:
    """The regime model: the last regime's (posterior mean) rate, held."""
    if monotone:
        rate = max(rate, 0.0)
    return Candidate(
        name="piecewise",
        params={"rate": float(rate), "regimes": float(n_regimes)},
        rate_now=float(rate),
        t_last=float(t_last),
        y_last=float(y_last),
        monotone=monotone,
    )


def _linear(t, y, t_last, y_last, monotone):
    b, a = np.polyfit(t, y, 1)
    rate = max(b, 0.0) if monotone else b
    note = "" if b >= 0 or not monotone else "negative slope clipped to 0"
    return Candidate(
        name="linear",
        params={"intercept": float(a), "rate": float(rate)},
        rate_now=float(rate),
        note=note,
        **_clean(t, y, y_last, t_last, monotone),
    )


def _exponential(t, y, t_last, y_last, monotone):
    ok = y > 0
    if ok.sum() < 3:
        return None
    g, a = np.polyfit(t[ok], np.log(y[ok]), 1, w=np.sqrt(y[ok]))
    if monotone:
        g = max(g, 0.0)
    return Candidate(
        name="exponential",
        params={"log_intercept": float(a), "growth_per_day": float(g),
                "growth_per_year": float(np.expm1(min(g * _YEAR, 700.0)))},
        rate_now=float(y_last * np.expm1(g)),
        **_clean(t, y, y_last, t_last, monotone),
    )


def _shape(name: str, y: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Rate per unit ``r`` of a saturating curve at level ``y``: the ODE's right-hand side."""
    y = np.maximum(y, 1e-9)
    if name == "logistic":
        return y * (1.0 - y / cap)
    return y * np.log(np.maximum(cap / y, 1e-300))


def _saturating(name, t, y, t_last, y_last, monotone, cap, rates):
    """Fit ``dy/dt = r f(y; K)`` to the observed rates (see :func:`fit_curve`)."""
    level, rate = rates
    ymax = float(max(np.max(y), y_last))
    if len(rate) < 4 or ymax <= 0:
        return None
    # Poisson-like noise: a rate's variance grows with the level, so weigh by 1 / level
    w = 1.0 / np.maximum(level, 1.0)
    fixed = cap is not None
    if fixed:
        grid = np.array([float(cap)])
    else:
        grid = ymax * np.exp(np.linspace(0.0, np.log(_CAP_MAX_RATIO), 241))
    x = _shape(name, level[None, :], grid[:, None])  # (grid, blocks)
    sxx = (w * x * x).sum(axis=1)
    sxr = (w * x * rate).sum(axis=1)
    r = np.where(sxx > 0, sxr / np.where(sxx > 0, sxx, 1.0), 0.0)
    r = np.maximum(r, 0.0)
    rss = (w * (rate - r[:, None] * x) ** 2).sum(axis=1)
    k = int(np.argmin(rss))
    if not fixed and 0 < k < len(grid) - 1:
        # parabola through the three best grid points, on log K
        lg = np.log(grid[k - 1 : k + 2])
        c2, c1, _ = np.polyfit(lg, rss[k - 1 : k + 2], 2)
        if c2 > 0:
            kk = float(np.exp(np.clip(-c1 / (2 * c2), lg[0], lg[-1])))
            xk = _shape(name, level, np.array(kk))
            rk = max(float((w * xk * rate).sum() / max((w * xk * xk).sum(), 1e-300)), 0.0)
            grid, r, rss = np.r_[grid, kk], np.r_[r, rk], np.r_[rss, (w * (rate - rk * xk) ** 2).sum()]
            k = len(grid) - 1
    cap_hat, r_hat = float(grid[k]), float(r[k])
    n = len(rate)
    note, determined, cap_se = "", True, np.nan
    if fixed:
        note = "cap fixed by the caller"
    else:
        sigma2 = rss[k] / max(n - 2, 1)
        inside = grid[rss <= rss[k] + sigma2]
        cap_se = float((inside.max() - inside.min()) / 2.0)
        if inside.max() >= ymax * _CAP_MAX_RATIO * 0.999:
            note, determined = (f"cap poorly determined: its 1-sigma range reaches the upper bound "
                                f"({_CAP_MAX_RATIO:g}x the largest value)"), False
        elif cap_se > 0.25 * cap_hat:
            note, determined = "cap poorly determined (standard error > 25% of the cap)", False
        elif cap_hat <= ymax * 1.0001:
            # the unconstrained cap would sit below the count: the curve contradicts growth
            return None
    params = {"cap": cap_hat, "cap_se": cap_se, "r_per_year": r_hat * _YEAR}
    cand = Candidate(
        name=name,
        params=params,
        rate_now=float(r_hat * _shape(name, np.array(y_last), np.array(cap_hat))),
        note=note,
        cap_determined=determined,
        **_clean(t, y, y_last, t_last, monotone),
    )
    return cand


def fit_curve(
    name: str,
    t: np.ndarray,
    y: np.ndarray,
    *,
    t_last: float,
    y_last: float,
    monotone: bool,
    cap: float | None = None,
    rates: tuple[np.ndarray, np.ndarray] | None = None,
) -> Candidate | None:
    """Fit one closed-form candidate; ``None`` if it cannot be fitted.

    ``linear`` and ``exponential`` are fitted to the points ``(t, y)`` (days, apps). The
    saturating shapes are fitted where they are best determined, to the rate of new apps:
    ``rates = (level, rate)`` holds the mean level (apps) and rate (apps/day) of ~4-week blocks,
    and ``rate = r * y * (1 - y / K)`` (logistic) or ``r * y * log(K / y)`` (Gompertz) is fitted
    by weighted least squares, profiled over ``K`` on a fine grid from the largest value seen to
    50 times it (``r`` is closed-form for each ``K``). ``cap_se`` is half the width of the range of
    ``K`` whose residual sum of squares is within one residual variance of the best.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if name == "linear":
        return _linear(t, y, t_last, y_last, monotone)
    if name == "exponential":
        return _exponential(t, y, t_last, y_last, monotone)
    if name in ("logistic", "gompertz"):
        if rates is None:
            raise ValueError(f"{name} needs the block rates")
        return _saturating(name, t, y, t_last, y_last, monotone, cap, rates)
    raise ValueError(f"unknown curve {name!r}")


def fit_local_trend(
    t: np.ndarray,
    y: np.ndarray,
    *,
    t_last: float,
    y_last: float,
    monotone: bool,
    params: np.ndarray | None = None,
) -> tuple[Candidate | None, np.ndarray | None]:
    """Local linear trend on ``log(1 + y)`` with statsmodels' ``UnobservedComponents``.

    With ``params`` given (the variances from an earlier fit) only the Kalman filter runs: this is
    how the rolling-origin backtest keeps the state-space model cheap.

    Returns
    -------
    (Candidate or None, params or None)
    """
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    t = np.asarray(t, dtype=float)
    z = np.log1p(np.clip(np.asarray(y, dtype=float), 0.0, None))
    if len(z) < 8:
        return None, None
    step = float(np.median(np.diff(t)))
    with warnings.catch_warnings():
        # optimiser chatter (ConvergenceWarning, RuntimeWarning) is judged by the backtest instead
        warnings.simplefilter("ignore")
        try:
            mod = UnobservedComponents(z, level="local linear trend")
            if params is None:
                # moment-based start values let a short Nelder-Mead run reach the optimum that a
                # full L-BFGS fit finds, at a tenth of the cost
                d = np.diff(z)
                v = max(float(np.var(d)), 1e-12)
                start = [v / 4.0, v / 2.0, float(np.var(np.diff(d))) / 50.0 + 1e-12]
                res = mod.fit(start_params=start, method="nm", maxiter=150, disp=False,
                              cov_type="none")
                params = np.asarray(res.params)
            else:
                res = mod.filter(params, cov_type="none")
        except (np.linalg.LinAlgError, ValueError):
            return None, None
    state = np.asarray(res.filtered_state)[:, -1]
    slope = float(state[1]) / step
    if not np.isfinite(slope):
        return None, params
    if monotone:
        slope = max(slope, 0.0)
    names = ("sigma2_irregular", "sigma2_level", "sigma2_trend")
    p = {k: float(v) for k, v in zip(names, params, strict=False)}
    p.update(slope_per_day=slope, growth_per_year=float(np.expm1(min(slope * _YEAR, 700.0))))
    cand = Candidate(
        name="local_trend",
        params=p,
        rate_now=float((1.0 + y_last) * np.expm1(slope)),
        **_clean(t, z, y_last, t_last, monotone),
    )
    return cand, params

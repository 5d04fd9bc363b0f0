"""Candidate growth shapes of :func:`capacity.growth.fit_growth`: one class each, in one registry.

Every candidate is fitted to the observed counts and then reduced to the one thing the forecast
needs: its mean path of future counts, **anchored** at the last observed value (the candidate's
increments are added to the last count, so no forecast starts with a jump back onto a curve that
missed the latest observation).

==================  ==================================================================================
name                shape
==================  ==================================================================================
``piecewise``       the rate of new apps is piecewise constant (see :mod:`capacity.growth.regimes`);
                    the future keeps the last regime's rate (its quasi-Poisson posterior mean)
``linear``          ``y = a + b t`` (least squares on all data)
``drift``           the mean rate of new apps over the last year (the whole history if shorter), held:
                    the drift benchmark on a window that spans a whole yearly cycle
``exponential``     ``log y = a + g t`` (least squares, weighted by ``y`` so recent, larger counts
                    dominate as their relative noise is smaller)
``logistic``        ``dy/dt = r y (1 - y / K)``: the logistic curve, fitted to the rate of new apps
                    against the count (where the slowing that reveals ``K`` shows first);
                    ``K >= max(y)`` or fixed
``gompertz``        ``dy/dt = r y log(K / y)``: the Gompertz curve, fitted the same way
``local_trend``     local linear trend on ``log(1 + y)`` (statsmodels ``UnobservedComponents``)
``additive_trend``  local linear trend on ``y``: the model of additive-trend exponential smoothing,
                    ETS(A,A,N); a straight line from the last count at the filtered slope
==================  ==================================================================================

A saturating fit whose best cap is the largest value seen is dropped: the unconstrained cap would
lie below the count, i.e. the rate is not falling the way the curve requires.

The registry
------------
:data:`MODELS` maps each name to its :class:`GrowthModel`, in the order the candidates are fitted and
reported. The fitting (:func:`capacity.growth.backtest.fit_state`), the backtest and the paths only
iterate over it, so adding a shape is one subclass and one line::

    class Constant(GrowthModel):
        name = "constant"

        def fit(self, data):
            return self.candidate(data, params={"level": data.y_last}, rate_now=0.0)

        def level(self, c, h):
            return np.full(len(h), c.y_last)

    register_model(Constant())  # fit_growth(apps, models=["piecewise", "constant"]) now knows it
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from capacity.errors import ArgumentError
from capacity.growth.regimes import Segmentation
from capacity.validation import InstanceOf, Options, Text, check_args

__all__ = ["MODELS", "GrowthModel", "Candidate", "Observed", "register_model", "unregister_model",
           "Piecewise", "Linear", "Drift", "Exponential", "Saturating", "Logistic", "Gompertz",
           "LocalTrend"]

_YEAR = 365.25
#: a fitted cap this many times the largest value seen is at its upper bound: not determined
_CAP_MAX_RATIO = 50.0
#: the note of a saturating fit whose best cap is the search bound itself: the data show no ceiling, and
#: the number is the search's, not the data's (summaries say "unbounded", not 20,099.99...)
CAP_UNBOUNDED = (f"cap unbounded: the best fit puts it at the search bound ({_CAP_MAX_RATIO:g}x the largest "
                 "value); the data show no ceiling")


@dataclass(frozen=True, eq=False)
class Observed:
    """What every candidate is fitted to at one origin (built by ``backtest.fit_state``).

    Attributes
    ----------
    t, y : ndarray
        The points the curves are fitted to: days since the first observation and live apps
        (block ends, so weekly points for daily data).
    level, rate : ndarray
        Mean level (apps) and rate of new apps (apps/day) over ~4-week blocks, oldest first.
    t_last, y_last : float
        Time (days) and count (apps) of the last observation: the forecast's anchor.
    monotone : bool
        The history never fell (a model should then not forecast a fall).
    seg : Segmentation
        The regimes of the rate of new apps.
    cap : float or None
        A saturation level (apps) fixed by the caller.
    reuse : mapping
        Per model name, what that model's fit at the previous, older backtest origin left
        (:attr:`Candidate.reuse`): never anything fitted on data after this origin; empty for the
        oldest origin and for the whole-series fit.
    """

    t: np.ndarray
    y: np.ndarray
    level: np.ndarray
    rate: np.ndarray
    t_last: float
    y_last: float
    monotone: bool
    seg: Segmentation
    cap: float | None = None
    reuse: Mapping[str, Any] = field(default_factory=dict)


class GrowthModel(ABC):
    """One candidate shape: :meth:`fit` it to the data, :meth:`level` gives its mean future counts.

    A subclass sets :attr:`name` (how ``fit_growth(models=...)`` and every table call it) and
    implements :meth:`fit` (usually ending in :meth:`candidate`) and :meth:`level`. Optional flags:
    :attr:`saturating` when the shape levels off (its parameters then carry ``cap`` and ``cap_se``,
    in apps, which :attr:`capacity.growth.GrowthFit.cap` reads), :attr:`failure` to say why a fit
    returned ``None``, and :attr:`follows_regime` for the model the forecast falls back on. A fit may
    leave something for the backtest origins to reuse (``candidate(..., reuse=...)``, read back from
    :attr:`Observed.reuse`). Instances are registered with :func:`register_model`.
    """

    name: str = ""
    #: the shape levels off at a cap (``params["cap"]``, apps)
    saturating: bool = False
    #: why the model is missing from the weights when :meth:`fit` returns ``None``
    failure: str = "could not be fitted"
    #: the model follows the current regime of the rate: it takes all the weight when the backtest
    #: cannot judge (too short a history, or a regime change too recent for any origin to have seen)
    follows_regime: bool = False

    @abstractmethod
    def fit(self, data: Observed) -> Candidate | None:
        """Fit the shape to ``data``; ``None`` if it cannot be fitted (see :attr:`failure`)."""

    def fit_many(self, datas: list[Observed]) -> list[Candidate | None]:
        """Fit the shape to each of ``datas`` (the backtest origins, oldest first, then the whole
        series); a subclass may vectorise this, but each must be fitted on its own data only (sharing
        anything across the batch would leak later data into earlier origins and the final fit)."""
        return [self.fit(d) for d in datas]

    @abstractmethod
    def level(self, c: Candidate, h: np.ndarray) -> np.ndarray:
        """Mean counts (apps) ``h`` days (1, 2, ...) after the last observation, before the
        monotone clamp of :meth:`Candidate.mean_path`."""

    def candidate(self, data: Observed, params: dict[str, float], rate_now: float, **kw: Any) -> Candidate:
        """The fitted candidate, anchored at ``data``'s last observation."""
        return Candidate(self, params=params, rate_now=float(rate_now), t_last=float(data.t_last),
                         y_last=float(data.y_last), monotone=data.monotone, **kw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@dataclass(frozen=True, eq=False)
class Candidate:
    """One fitted candidate shape.

    Attributes
    ----------
    model : GrowthModel
        The shape it is a fit of (``name`` is the model's).
    params : dict
        Fitted parameters in natural units (apps, apps/day, per year, days since the first
        observation).
    rate_now : float
        Mean rate of new apps on the first forecast day, apps/day.
    t_last, y_last : float
        The anchor: time (days) and count (apps) of the last observation.
    monotone : bool
        The mean path never falls below the last count nor turns down.
    note : str
        Anything the planner should know (for instance a poorly determined cap).
    cap_determined : bool or None
        For a saturating shape, whether the data pin the cap down.
    reuse : object
        What the next, newer backtest origin may reuse of this fit (a warm start), or None.
    """

    model: GrowthModel = field(repr=False)
    params: dict[str, float]
    rate_now: float
    t_last: float = 0.0
    y_last: float = 0.0
    monotone: bool = True
    note: str = ""
    cap_determined: bool | None = None
    reuse: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def saturating(self) -> bool:
        """The shape levels off at :attr:`cap`."""
        return self.model.saturating

    @property
    def cap(self) -> float:
        """Saturation level (apps) of a saturating shape, NaN otherwise."""
        return float(self.params.get("cap", np.nan))

    def mean_path(self, horizon: int) -> np.ndarray:
        """Mean future counts (apps) for days ``1..horizon`` after the last observation."""
        h = np.arange(1, horizon + 1, dtype=float)
        level = self.model.level(self, h)
        if self.monotone:
            level = np.maximum.accumulate(np.maximum(level, self.y_last))
        return np.maximum(level, 0.0)

    def increments(self, horizon: int) -> np.ndarray:
        """Mean new apps on each of days ``1..horizon`` (apps/day)."""
        level = self.mean_path(horizon)
        return np.diff(np.concatenate([[self.y_last], level]))


# --------------------------------------------------------------------------------------------
# the shapes


class _HeldRate(GrowthModel):
    """A shape whose future is one rate of new apps, ``params["rate"]`` (apps/day), held."""

    def level(self, c: Candidate, h: np.ndarray) -> np.ndarray:
        return c.y_last + c.params["rate"] * h


class Piecewise(_HeldRate):
    """The regime model: the last regime's (posterior mean) rate, held."""

    name = "piecewise"
    follows_regime = True

    def fit(self, data: Observed) -> Candidate:
        s, e = data.seg.last_sum, data.seg.last_exposure
        # posterior mean of a quasi-Poisson rate (half a count of prior) keeps a dead-flat
        # regime's rate positive but tiny
        rate = (s + 0.5) / e if s >= 0 else s / e
        if data.monotone:
            rate = max(rate, 0.0)
        return self.candidate(data, {"rate": float(rate), "regimes": float(len(data.seg.rates))}, rate)


def _line(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Slope and intercept of the (weighted) least-squares line, in closed form: ``np.polyfit``'s
    general solver costs more than the rest of these fits. ``w`` weighs the squared residuals (it is
    the square of polyfit's ``w``); the ``x`` must not all be equal (the slope is then 0)."""
    w = np.ones_like(x, dtype=float) if w is None else w
    sw = w.sum()
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    dx = x - mx
    sxx = (w * dx * dx).sum()
    slope = (w * dx * (y - my)).sum() / sxx if sxx > 0 else 0.0
    return float(slope), float(my - slope * mx)


def _parabola(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``c2, c1`` of the parabola ``c2 x^2 + c1 x + c0`` through three points (distinct ``x``)."""
    (x0, x1, x2), (y0, y1, y2) = x, y
    d01, d12 = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
    c2 = (d12 - d01) / (x2 - x0)
    return float(c2), float(d01 - c2 * (x0 + x1))


class Linear(_HeldRate):
    """``y = a + b t`` by least squares on every point."""

    name = "linear"

    def fit(self, data: Observed) -> Candidate:
        b, a = _line(data.t, data.y)
        rate = max(b, 0.0) if data.monotone else b
        note = "" if b >= 0 or not data.monotone else "negative slope clipped to 0"
        return self.candidate(data, {"intercept": float(a), "rate": float(rate)}, rate, note=note)


class Drift(_HeldRate):
    """The mean rate of new apps over the last :attr:`window_days`, held.

    The drift forecast (the count grows on at its recent mean rate) is the benchmark that any growth
    forecast has to beat. Its window is a whole year so that the rate carries no part of a yearly
    cycle (holidays, release seasons), and it is not cut by the regime segmentation, so it weighs the
    last year's changes of rate by how long each lasted.
    """

    name = "drift"
    window_days: float = _YEAR

    def fit(self, data: Observed) -> Candidate | None:
        t, y = data.t, data.y
        span = min(self.window_days, float(data.t_last - t[0]))
        if span <= 0:
            return None
        # the count a window before the end, read off the fitted points (weekly block ends for daily
        # data); a shorter history spans from the first of them
        start = float(np.interp(data.t_last - span, t, y))
        rate = (data.y_last - start) / span
        if data.monotone:
            rate = max(rate, 0.0)
        return self.candidate(data, {"rate": float(rate), "window_days": span}, rate)


class Exponential(GrowthModel):
    """``log y = a + g t`` by least squares weighted by ``y`` (recent, larger counts are less noisy)."""

    name = "exponential"

    def fit(self, data: Observed) -> Candidate | None:
        t, y = data.t, data.y
        ok = y > 0
        if ok.sum() < 3:
            return None
        g, a = _line(t[ok], np.log(y[ok]), w=y[ok])
        if data.monotone:
            g = max(g, 0.0)
        params = {"log_intercept": float(a), "growth_per_day": float(g),
                  "growth_per_year": float(np.expm1(min(g * _YEAR, 700.0)))}
        return self.candidate(data, params, data.y_last * np.expm1(g))

    def level(self, c: Candidate, h: np.ndarray) -> np.ndarray:
        return c.y_last * np.exp(np.minimum(c.params["growth_per_day"] * h, 50.0))


class Saturating(GrowthModel):
    """``dy/dt = r f(y; K)``, fitted where it is best determined: to the rate of new apps.

    The rates of ~4-week blocks are fitted by weighted least squares, profiled over ``K`` on a fine
    grid from the largest value seen to 50 times it (``r`` is closed-form for each ``K``), then
    refined by a parabola through the three best grid points. ``cap_se`` is half the width of the
    range of ``K`` whose residual sum of squares is within one residual variance of the best.
    """

    saturating = True
    failure = "best cap is at the largest value seen: the rate does not fall as a saturating curve needs"

    @staticmethod
    @abstractmethod
    def shape(y: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """Rate per unit ``r`` at level ``y``: the ODE's right-hand side ``f(y; K)``."""

    @staticmethod
    @abstractmethod
    def solution(y0: float, k: float, r: float, h: np.ndarray) -> np.ndarray:
        """The ODE's exact solution ``h`` days after the level ``y0 < k``."""

    def fit(self, data: Observed) -> Candidate | None:
        level, rate = data.level, data.rate
        ymax = float(max(np.max(data.y), data.y_last))
        if len(rate) < 4 or ymax <= 0:
            return None
        # Poisson-like noise: a rate's variance grows with the level, so weigh by 1 / level
        w = 1.0 / np.maximum(level, 1.0)
        fixed = data.cap is not None
        if fixed:
            grid = np.array([float(data.cap)])
        else:
            grid = ymax * np.exp(np.linspace(0.0, np.log(_CAP_MAX_RATIO), 241))
        r, rss = self._profile(level, rate, w, grid)
        k = int(np.argmin(rss))
        if not fixed and 0 < k < len(grid) - 1:
            grid, r, rss, k = self._refine(level, rate, w, grid, r, rss, k)
        cap_hat, r_hat = float(grid[k]), float(r[k])
        if fixed:
            note, determined, cap_se = "cap fixed by the caller", True, np.nan
        else:
            judged = _judge_cap(grid, rss, k, len(rate), ymax)
            if judged is None:
                return None
            note, determined, cap_se = judged
        params = {"cap": cap_hat, "cap_se": cap_se, "r_per_year": r_hat * _YEAR}
        rate_now = r_hat * self.shape(np.array(data.y_last), np.array(cap_hat))
        return self.candidate(data, params, rate_now, note=note, cap_determined=determined)

    def _profile(self, level, rate, w, grid) -> tuple[np.ndarray, np.ndarray]:
        """Best ``r`` and the residual sum of squares for every cap of ``grid``."""
        x = self.shape(level[None, :], grid[:, None])  # (grid, blocks)
        sxx = (w * x * x).sum(axis=1)
        sxr = (w * x * rate).sum(axis=1)
        r = np.where(sxx > 0, sxr / np.where(sxx > 0, sxx, 1.0), 0.0)
        r = np.maximum(r, 0.0)
        rss = (w * (rate - r[:, None] * x) ** 2).sum(axis=1)
        return r, rss

    def _refine(self, level, rate, w, grid, r, rss, k):
        """Add the minimum of a parabola (on log K) through the three best grid points, if any."""
        lg = np.log(grid[k - 1 : k + 2])
        c2, c1 = _parabola(lg, rss[k - 1 : k + 2])
        if c2 > 0:
            kk = float(np.exp(np.clip(-c1 / (2 * c2), lg[0], lg[-1])))
            xk = self.shape(level, np.array(kk))
            rk = max(float((w * xk * rate).sum() / max((w * xk * xk).sum(), 1e-300)), 0.0)
            grid, r, rss = np.r_[grid, kk], np.r_[r, rk], np.r_[rss, (w * (rate - rk * xk) ** 2).sum()]
            k = len(grid) - 1
        return grid, r, rss, k

    def level(self, c: Candidate, h: np.ndarray) -> np.ndarray:
        # the ODE integrated from the last observed count (exact solutions)
        k, r = c.params["cap"], c.params["r_per_year"] / _YEAR
        y0 = max(c.y_last, 1e-9)
        if y0 >= k:
            return np.full(len(h), c.y_last)
        return self.solution(y0, k, r, h)


def _judge_cap(grid: np.ndarray, rss: np.ndarray, k: int, n: int, ymax: float):
    """``(note, determined, cap_se)`` of an estimated cap, or ``None`` when the best cap contradicts
    growth (it would sit below the count)."""
    cap_hat = float(grid[k])
    sigma2 = rss[k] / max(n - 2, 1)
    inside = grid[rss <= rss[k] + sigma2]
    cap_se = float((inside.max() - inside.min()) / 2.0)
    if cap_hat >= ymax * _CAP_MAX_RATIO * 0.999:
        return CAP_UNBOUNDED, False, np.inf
    if inside.max() >= ymax * _CAP_MAX_RATIO * 0.999:
        return (f"cap poorly determined: its 1-sigma range reaches the upper bound "
                f"({_CAP_MAX_RATIO:g}x the largest value)"), False, cap_se
    if cap_se > 0.25 * cap_hat:
        return "cap poorly determined (standard error > 25% of the cap)", False, cap_se
    if cap_hat <= ymax * 1.0001:
        return None
    return "", True, cap_se


class Logistic(Saturating):
    """``dy/dt = r y (1 - y / K)``."""

    name = "logistic"

    @staticmethod
    def shape(y: np.ndarray, cap: np.ndarray) -> np.ndarray:
        y = np.maximum(y, 1e-9)
        return y * (1.0 - y / cap)

    @staticmethod
    def solution(y0: float, k: float, r: float, h: np.ndarray) -> np.ndarray:
        return k / (1.0 + (k - y0) / y0 * np.exp(-r * h))


class Gompertz(Saturating):
    """``dy/dt = r y log(K / y)``."""

    name = "gompertz"

    @staticmethod
    def shape(y: np.ndarray, cap: np.ndarray) -> np.ndarray:
        y = np.maximum(y, 1e-9)
        return y * np.log(np.maximum(cap / y, 1e-300))

    @staticmethod
    def solution(y0: float, k: float, r: float, h: np.ndarray) -> np.ndarray:
        return k * np.exp(np.log(y0 / k) * np.exp(-r * h))


class LocalTrend(GrowthModel):
    """Local linear trend on ``log(1 + y)``: the model of statsmodels' ``UnobservedComponents(level="local
    linear trend")``, estimated by maximum likelihood at every fit, backtest origins included.

    The variances are profiled on a fixed grid (the irregular's share of the irregular plus level
    variance, and the trend variance relative to that sum; the scale is concentrated out) by one
    Kalman filter run for the whole grid, and for all the backtest origins and the whole series at
    once (:meth:`fit_many`): each estimates its own variances from its own data, at the cost of one
    filter. The filter starts exactly from the first two points (the diffuse start).
    """

    name = "local_trend"
    #: the model sees at most this many recent points (weeks for daily data)
    points = 260

    def fit(self, data: Observed) -> Candidate | None:
        return self.fit_many([data])[0]

    def fit_many(self, datas: list[Observed]) -> list[Candidate | None]:
        zs = [self.transform(np.asarray(d.y[-self.points :], dtype=float)) for d in datas]
        ok = [i for i, z in enumerate(zs) if len(z) >= 8]
        out: list[Candidate | None] = [None] * len(datas)
        if not ok:
            return out
        ll, s2, slope = llt_filter([zs[i] for i in ok], *_LT_GRID)
        for row, i in enumerate(ok):
            d = datas[i]
            k = int(np.argmax(ll[row]))
            step = float(np.median(np.diff(d.t[-self.points :])))
            sl = float(slope[row, k]) / step
            if not np.isfinite(sl):
                continue
            if d.monotone:
                sl = max(sl, 0.0)
            frac, qt = _LT_GRID[:, k]
            sc = float(s2[row, k])
            p = {"sigma2_irregular": frac * sc, "sigma2_level": (1.0 - frac) * sc, "sigma2_trend": qt * sc}
            out[i] = self.slope_candidate(d, p, sl)
        return out

    @staticmethod
    def transform(y: np.ndarray) -> np.ndarray:
        """The scale the trend is local on."""
        return np.log1p(np.clip(y, 0.0, None))

    def slope_candidate(self, d: Observed, params: dict[str, float], slope: float) -> Candidate:
        """The candidate of a filtered slope (per day, on the :meth:`transform` scale)."""
        grown = float(np.expm1(min(slope * _YEAR, 700.0)))
        return self.candidate(d, params | {"slope_per_day": slope, "growth_per_year": grown},
                              (1.0 + d.y_last) * np.expm1(slope))

    def level(self, c: Candidate, h: np.ndarray) -> np.ndarray:
        base = 1.0 + c.y_last
        return c.y_last + base * np.expm1(np.minimum(c.params["slope_per_day"] * h, 50.0))


class AdditiveTrend(LocalTrend):
    """Local linear trend on the count itself (the model of additive-trend exponential smoothing,
    ETS(A,A,N)): the local level grows by a slope that itself drifts; the forecast extends the last
    filtered slope in a straight line. Estimated as :class:`LocalTrend` is, on ``y`` instead of
    ``log(1 + y)``: its ``sigma2_*`` parameters are in apps^2 per point, ``rate`` in apps/day."""

    name = "additive_trend"

    @staticmethod
    def transform(y: np.ndarray) -> np.ndarray:
        return y

    def slope_candidate(self, d: Observed, params: dict[str, float], slope: float) -> Candidate:
        return self.candidate(d, params | {"rate": slope}, slope)

    level = _HeldRate.level  # a straight line from the last count at the filtered slope


#: the local trend's variance grid: irregular share of irregular + level variance, and trend variance
#: relative to that sum
_LT_FRAC = np.array([0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0])
_LT_QT = np.r_[0.0, np.logspace(-7, 0, 15)]
_LT_GRID = np.array([(f, q) for f in _LT_FRAC for q in _LT_QT]).T  # (2, n_grid)


def llt_filter(zs: list[np.ndarray], frac: np.ndarray, qt: np.ndarray):
    """Kalman filter of the local linear trend for several series and every variance pair at once.

    ``zs`` are the series (lengths >= 2, may differ); ``frac``/``qt`` the grid (see :class:`LocalTrend`),
    with the irregular and level variances summing to 1. Returns, each of shape ``(len(zs), len(frac))``,
    the concentrated log-likelihood, the scale estimate (the variance sum) and the filtered slope at
    each series' last point.

    The filter's variances and gains do not depend on the data (the start is exact, from the first two
    points), so they are computed once per grid and length (:func:`_llt_gains`) and only the states
    run per series. When every series is the start of the longest (the backtest's origins, while the
    history is within the model's window of :attr:`LocalTrend.points`), the states run once, along
    the longest, and are read at each series' end: a filter only looks back.
    """
    lens = np.array([len(z) for z in zs])
    longest = zs[int(np.argmax(lens))]
    if len(zs) > 1 and all(np.array_equal(z, longest[: len(z)]) for z in zs):
        zmat, rows = longest[None, :], np.zeros(len(zs), dtype=int)
    else:
        zmat, rows = np.zeros((len(zs), int(lens.max()))), np.arange(len(zs))
        for i, z in enumerate(zs):
            zmat[i, : len(z)] = z
    f, k0, k1, cum_logf = _llt_gains(zmat.shape[1], frac, qt)
    ssq, a1 = _llt_states(zmat, f, k0, k1, rows, lens)
    n = np.maximum(lens - 2, 1)[:, None]
    s2 = np.maximum(ssq / n, 1e-300)
    return -0.5 * (n * np.log(s2) + cum_logf[lens - 1]), s2, a1


#: the filter's data-free part per grid, for the longest series seen so far (see :func:`_llt_gains`)
_GAINS: dict[bytes, tuple[np.ndarray, ...]] = {}


def _llt_gains(n: int, frac: np.ndarray, qt: np.ndarray) -> tuple[np.ndarray, ...]:
    """Innovation variances ``f``, gains ``k0``/``k1`` of level and slope, and the running sum of
    ``log f``, each (steps, variance pairs) for steps ``0..n-1`` (the first two rows unused: the
    filter starts at the third point); cached per grid, grown as longer series come."""
    key = frac.tobytes() + qt.tobytes()
    cached = _GAINS.get(key)
    if cached is not None and len(cached[0]) >= n:
        return cached
    g = len(frac)
    h, ql = frac, 1.0 - frac
    # (level, slope) given the first two points exactly: level error = the irregular of z1, slope
    # error = the difference of two irregulars plus the level and trend shocks
    p00, p01, p11 = h.copy(), h.copy(), 2.0 * h + ql + qt
    f, k0, k1 = (np.ones((n, g)), np.zeros((n, g)), np.zeros((n, g)))
    logf = np.zeros((n, g))
    for t in range(2, n):
        n00 = p00 + 2.0 * p01 + p11 + ql
        n01 = p01 + p11
        n11 = p11 + qt
        f[t] = np.maximum(n00 + h, 1e-12)
        k0[t], k1[t] = n00 / f[t], n01 / f[t]
        p00, p01, p11 = n00 - k0[t] * n00, n01 - k0[t] * n01, n11 - k1[t] * n01
        logf[t] = np.log(f[t])
    gains = (f, k0, k1, np.cumsum(logf, axis=0))
    for a in gains:
        a.setflags(write=False)  # shared by every fit
    # another thread may have stored a longer one meanwhile: keep the longest
    if len(_GAINS.get(key, ((),))[0]) < n:
        _GAINS[key] = gains
    return gains


def _llt_states(zmat: np.ndarray, f: np.ndarray, k0: np.ndarray, k1: np.ndarray, rows: np.ndarray,
                lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The states along each row of ``zmat``: the sum of squared standardised innovations and the
    filtered slope read after the first ``lens[j]`` points of row ``rows[j]``, one output row per j."""
    g = f.shape[1]
    a0 = np.repeat(zmat[:, 1:2], g, axis=1)
    a1 = np.repeat(zmat[:, 1:2] - zmat[:, 0:1], g, axis=1)
    ssq = np.zeros_like(a0)
    out_ssq, out_a1 = np.zeros((len(rows), g)), np.zeros((len(rows), g))
    ends: dict[int, list[int]] = {}
    for j, n in enumerate(lens):
        ends.setdefault(max(int(n) - 1, 1), []).append(j)
    for j in ends.get(1, ()):  # two points: the exact start
        out_ssq[j], out_a1[j] = ssq[rows[j]], a1[rows[j]]
    for t in range(2, zmat.shape[1]):
        b0 = a0 + a1
        v = zmat[:, t : t + 1] - b0
        a0 = b0 + k0[t] * v
        a1 = a1 + k1[t] * v
        ssq += v * v / f[t]
        for j in ends.get(t, ()):
            out_ssq[j], out_a1[j] = ssq[rows[j]], a1[rows[j]]
    return out_ssq, out_a1


# --------------------------------------------------------------------------------------------
# the registry

#: the registered shapes by name, in the order they are fitted and reported
MODELS: dict[str, GrowthModel] = {}


def register_model(model: GrowthModel) -> GrowthModel:
    """Add a shape to :data:`MODELS`: ``fit_growth`` then fits, backtests and weighs it by default.

    Parameters
    ----------
    model : GrowthModel
        An instance of a :class:`GrowthModel` subclass whose ``name`` is not registered yet.

    Returns
    -------
    GrowthModel
        ``model`` (so the call can decorate an instance's creation).
    """
    check_args("register_model", model=(model, [InstanceOf(GrowthModel)]))
    check_args("register_model", name=(model.name, [Text()]))
    if model.name in MODELS:
        raise ArgumentError(f"register_model: name {model.name!r} is already registered "
                            f"(unregister_model({model.name!r}) first)")
    MODELS[model.name] = model
    return model


def unregister_model(name: str) -> GrowthModel:
    """Remove the shape called ``name`` from :data:`MODELS` and return it."""
    check_args("unregister_model", name=(name, [Options(MODELS)]))
    return MODELS.pop(name)


for _model in (Piecewise(), Linear(), Drift(), Exponential(), Logistic(), Gompertz(), LocalTrend(),
               AdditiveTrend()):
    register_model(_model)
del _model

"""The Universal Scalability Law (USL): fit throughput against load and find the peak.

Gunther's USL models the throughput ``X`` of a system at load ``N`` (concurrent users, threads,
processors, brokers...) as

    X(N) = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

* ``sigma`` (contention, a fraction in [0, 1]): the serialised share of the work (Amdahl's law).
* ``kappa`` (coherency, >= 0): the cost of keeping N parties consistent; it makes throughput
  *fall* beyond the peak load ``N* = sqrt((1 - sigma) / kappa)``.
* ``lambda`` (> 0, throughput units per unit of load): the throughput of one unit of load, X(1).

The R package ``usl`` (Stefan Moeding) calls the three parameters ``alpha``, ``beta`` and
``gamma``; usl4j (Coda Hale) calls them ``sigma``, ``kappa`` and ``lambda`` as we do.

:func:`fit_usl` solves the bounded non-linear least-squares problem (``0 <= sigma, kappa <= 1``,
``lambda > 0``) and returns a :class:`USLFit`. Standard errors follow R's ``nls``/``usl``:
``sqrt(diag((J'J)^-1) * RSS / (n - 3))`` with ``J`` the Jacobian of the model at the estimate.
A coefficient the data cannot tell from its bound is put exactly on it and listed in
:attr:`USLFit.at_bound`; with kappa at 0 there is no peak (:attr:`USLFit.has_peak` is False).

Bad arguments (not numbers, a load <= 0, ...) raise :class:`~capacity.errors.ArgumentError` naming
the argument and its first bad item; too few measurements to fit raise
:class:`~capacity.errors.InputDataError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, CapacityError, FitError, InputDataError
from capacity.validation import Interval, Text, check_args
from capacity.validation.arrays import check_numbers

if TYPE_CHECKING:
    import altair as alt

__all__ = ["fit_usl", "USLFit", "USLPeak", "usl_throughput"]

PARAM_NAMES = ("sigma", "kappa", "lambda")
# sigma and kappa are fractions of work per unit of load; R's usl uses the same box.
_LOWER = np.array([0.0, 0.0, 0.0])
_UPPER = np.array([1.0, 1.0, np.inf])
# a coefficient whose whole effect on X(N) is below this share is on its bound (see _snap_to_bounds)
_SNAP = 1e-12

_NON_NEGATIVE = Interval(float, 0, None)
_POSITIVE = Interval(float, 0, None, closed="neither")
_ALPHA = [Interval(float, 0, 1, closed="neither")]


def usl_throughput(load: Any, sigma: float, kappa: float, lam: float) -> Any:
    """Throughput the USL predicts at ``load``.

    Parameters
    ----------
    load : float, array-like or pandas.Series
        Load N (concurrency, users, processors); must be >= 0.
    sigma : float
        Contention coefficient (fraction, 0..1).
    kappa : float
        Coherency coefficient (>= 0).
    lam : float
        Throughput at load 1 (throughput units, e.g. requests/s), > 0.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        X(N) in the units of ``lam``; same type (and index) as ``load``.
    """
    values = check_numbers("usl_throughput", "load", load, _NON_NEGATIVE)
    check_args("usl_throughput", sigma=(sigma, [Interval(float, 0, 1)]), kappa=(kappa, [_NON_NEGATIVE]),
          lam=(lam, [_POSITIVE]))
    out = _model(values, sigma, kappa, lam)
    return _like(out, load, name="throughput")


@dataclass(frozen=True, eq=False)
class USLPeak:
    """The load at which USL throughput peaks, and that throughput.

    Attributes
    ----------
    load : float
        N* = sqrt((1 - sigma) / kappa), in load units.
    throughput : float
        X(N*), in throughput units.
    """

    load: float
    throughput: float

    def __post_init__(self) -> None:
        check_args("USLPeak", load=(self.load, [_POSITIVE]), throughput=(self.throughput, [_NON_NEGATIVE]))

    def __repr__(self) -> str:
        return f"USLPeak(load={self.load:.4g}, throughput={self.throughput:.6g})"


@dataclass(frozen=True, eq=False)
class USLFit:
    """A fitted Universal Scalability Law model (the result of :func:`fit_usl`).

    Attributes
    ----------
    params : pandas.Series
        Estimates indexed ``sigma``, ``kappa``, ``lambda`` (learned).
    bse : pandas.Series
        Standard errors of ``params`` (same index).
    data : pandas.DataFrame
        The measurements: columns ``load`` and ``throughput``, with the caller's index.
    fittedvalues, resid : pandas.Series
        Fitted throughput and residuals (measured - fitted), aligned with ``data``.
    nobs, df_resid : int
        Number of measurements, and residual degrees of freedom (nobs - 3).
    ssr : float
        Residual sum of squares.
    rse : float
        Residual standard error sqrt(ssr / df_resid), in throughput units.
    rsquared : float
        Coefficient of determination (1 - ssr / total sum of squares).
    at_bound : tuple of str
        Parameters whose estimate sits on a bound (e.g. ``("kappa",)`` when the data show no
        coherency cost and kappa was pinned at 0).

    The methods check their arguments and raise :class:`~capacity.errors.ArgumentError` naming a
    bad one.
    """

    params: pd.Series
    bse: pd.Series
    data: pd.DataFrame
    fittedvalues: pd.Series
    resid: pd.Series
    nobs: int
    df_resid: int
    ssr: float
    rse: float
    rsquared: float
    at_bound: tuple[str, ...]

    @property
    def has_peak(self) -> bool:
        """True when kappa > 0, so throughput peaks at a finite load and then falls.

        :func:`fit_usl` puts a kappa the data cannot tell from 0 exactly at 0, so noise-free
        Amdahl data has no peak (rather than one at a load of 10^8).
        """
        return float(self.params["kappa"]) > 0.0

    def peak(self) -> USLPeak:
        """The load N* = sqrt((1 - sigma) / kappa) of maximum throughput, and X(N*).

        Raises
        ------
        CapacityError
            If kappa is 0: throughput then rises for ever towards its ceiling lambda / sigma
            (Amdahl's law), so there is no peak to report.
        """
        sigma, kappa, lam = (float(v) for v in self.params)
        if kappa <= 0.0:
            if sigma > 0.0:
                ceiling = f"rises towards its ceiling lambda / sigma = {lam / sigma:.6g}"
            else:
                ceiling = "grows linearly (sigma is 0 too)"
            raise CapacityError(
                "no USL peak: kappa is 0 (at its lower bound), so throughput never falls; "
                f"it {ceiling}"
            )
        load = math.sqrt((1.0 - sigma) / kappa)
        return USLPeak(load=load, throughput=float(_model(np.array(load), sigma, kappa, lam)))

    def predict(self, load: Any) -> Any:
        """Throughput predicted at ``load``.

        Parameters
        ----------
        load : float, array-like or pandas.Series
            Load values (>= 0), in the units the model was fitted on.

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            Predicted throughput, same type (and index) as ``load``.
        """
        values = check_numbers("USLFit.predict", "load", load, _NON_NEGATIVE)
        sigma, kappa, lam = (float(v) for v in self.params)
        return _like(_model(values, sigma, kappa, lam), load, name="throughput")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals ``estimate +/- t(1 - alpha/2, nobs - 3) * std_err``.

        The intervals are clipped to the parameter bounds (sigma and kappa in [0, 1],
        lambda >= 0): a coefficient cannot be negative, so a lower end below 0 is reported as 0.

        Parameters
        ----------
        alpha : float, default 0.05
            1 - confidence level, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper``, indexed like ``params``.
        """
        from scipy import stats

        check_args("USLFit.conf_int", alpha=(alpha, _ALPHA))
        half = stats.t.ppf(1.0 - alpha / 2.0, self.df_resid) * self.bse.to_numpy()
        est = self.params.to_numpy()
        lower = np.clip(est - half, _LOWER, _UPPER)
        upper = np.clip(est + half, _LOWER, _UPPER)
        return pd.DataFrame({"lower": lower, "upper": upper}, index=self.params.index)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy table of the parameters.

        Parameters
        ----------
        alpha : float, default 0.05
            1 - confidence level of the interval, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            Index ``sigma``, ``kappa``, ``lambda``; columns ``estimate``, ``std_err``, ``lower``,
            ``upper`` (the ``1 - alpha`` interval from :meth:`conf_int`) and ``at_bound``.
            ``attrs["peak"]`` says where throughput peaks, or ``"no peak (kappa=0)"``.
        """
        check_args("USLFit.summary", alpha=(alpha, _ALPHA))
        ci = self.conf_int(alpha)
        table = pd.DataFrame(
            {
                "estimate": self.params,
                "std_err": self.bse,
                "lower": ci["lower"],
                "upper": ci["upper"],
                "at_bound": [name in self.at_bound for name in self.params.index],
            }
        )
        table.attrs["peak"] = self._peak_text()
        return table

    def chart(self, *, title: str | None = None) -> alt.LayerChart:
        """Measured throughput (points), the fitted USL curve (line) and the peak (rule).

        Parameters
        ----------
        title : str, optional
            Chart title; defaults to the coefficients.

        Returns
        -------
        altair.LayerChart
            Not displayed or saved.
        """
        import altair as alt

        check_args("USLFit.chart", title=(title, [Text(), None]))
        top = float(self.data["load"].max())
        if self.has_peak:
            top = max(top, self.peak().load * 1.25)
        grid = np.linspace(0.0, top, 200)
        curve = pd.DataFrame({"load": grid, "throughput": self.predict(grid)})
        x = alt.X("load:Q", title="load (N)")
        y = alt.Y("throughput:Q", title="throughput")
        layers = [
            alt.Chart(curve).mark_line().encode(x=x, y=y),
            alt.Chart(self.data.reset_index(drop=True)).mark_point(filled=True).encode(x=x, y=y),
        ]
        if self.has_peak:
            pk = self.peak()
            peak_frame = pd.DataFrame({"load": [pk.load], "throughput": [pk.throughput]})
            layers.append(
                alt.Chart(peak_frame)
                .mark_rule(strokeDash=[4, 4])
                .encode(x="load:Q", tooltip=["load:Q", "throughput:Q"])
            )
        sigma, kappa, lam = (float(v) for v in self.params)
        return alt.layer(*layers).properties(
            title=title or f"USL: σ={sigma:.3g}, κ={kappa:.3g}, λ={lam:.4g}"
        )

    def _peak_text(self) -> str:
        if not self.has_peak:
            return "no peak (kappa=0)"
        pk = self.peak()
        return f"peak N*={pk.load:.4g} X={pk.throughput:.6g}"

    def __repr__(self) -> str:
        sigma, kappa, lam = (float(v) for v in self.params)
        return (
            f"USLFit(sigma={sigma:.6g}, kappa={kappa:.6g}, lambda={lam:.6g}, "
            f"nobs={self.nobs}, rse={self.rse:.4g}, {self._peak_text()})"
        )


def fit_usl(load: Any, throughput: Any) -> USLFit:
    """Fit the Universal Scalability Law to load-test measurements.

    Solves ``min sum (X_i - lambda N_i / (1 + sigma (N_i - 1) + kappa N_i (N_i - 1)))^2`` subject
    to ``0 <= sigma <= 1``, ``0 <= kappa <= 1``, ``lambda >= 0`` (bounded non-linear least squares,
    the same problem R's ``usl`` solves with ``nlxb``). Starting values: lambda from
    ``max(X / N)`` (as R's ``usl`` does), sigma and kappa from the non-negative linear fit of
    ``lambda N / X - 1 = sigma (N - 1) + kappa N (N - 1)`` and, as a second start, R's fixed
    0.01 and 1e-4; the better optimum wins. When a coefficient lands on its
    lower bound it is pinned at exactly 0 and the others are refitted, so ``kappa == 0`` means
    "no measurable coherency cost", not a tiny number: the pinned fit is kept when it fits at least as
    well, where residual sums of squares that differ by less than the data's rounding count as equal,
    and a coefficient whose whole effect on the fitted throughput is below 1e-12 of it is put on
    its bound (both are listed in ``at_bound``).

    Parameters
    ----------
    load : array-like or pandas.Series
        Load N of each measurement (concurrency, users, processors); > 0. A load of 1 is not
        required: lambda is estimated, not read off the data.
    throughput : array-like or pandas.Series
        Measured throughput X at each load (> 0, any unit, e.g. requests/s).

    Returns
    -------
    USLFit

    Raises
    ------
    ArgumentError
        Not 1-D arrays of numbers, different lengths, or a value that is missing, non-finite or not
        > 0 (the message names the argument and the first bad row).
    InputDataError
        Fewer than 4 measurements or 3 distinct loads.
    FitError
        The optimiser failed or the parameters are not identifiable from the data.
    """
    n_arr, x_arr, index = _validate(load, throughput)
    start, scale = _start(n_arr, x_arr)
    best, best_ssr = _fit_from_starts(n_arr, x_arr, start, scale)
    best, best_ssr = _pin_at_zero(n_arr, x_arr, best, best_ssr, scale)
    best, best_ssr = _polish(n_arr, x_arr, best)
    best, best_ssr = _snap_to_bounds(n_arr, x_arr, best, best_ssr, scale)
    at_bound = tuple(
        name
        for name, value, lo, hi in zip(PARAM_NAMES, best, _LOWER, _UPPER, strict=True)
        if value <= lo or value >= hi
    )
    df_resid = n_arr.size - 3
    bse = _standard_errors(n_arr, best, best_ssr / df_resid)
    fitted = _model(n_arr, *best)
    tss = float(np.sum((x_arr - x_arr.mean()) ** 2))
    return USLFit(
        params=pd.Series(best, index=list(PARAM_NAMES), name="estimate", dtype=float),
        bse=pd.Series(bse, index=list(PARAM_NAMES), name="std_err", dtype=float),
        data=pd.DataFrame({"load": n_arr, "throughput": x_arr}, index=index),
        fittedvalues=pd.Series(fitted, index=index, name="fitted"),
        resid=pd.Series(x_arr - fitted, index=index, name="resid"),
        nobs=n_arr.size,
        df_resid=df_resid,
        ssr=best_ssr,
        rse=math.sqrt(best_ssr / df_resid),
        rsquared=1.0 - best_ssr / tss if tss > 0 else 1.0,
        at_bound=at_bound,
    )


# ----------------------------------------------------------------------------- fitting steps


def _start(n: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our starting values and the parameter scales the optimiser works in."""
    from scipy.optimize import nnls

    lam0 = float(np.max(x / n))
    design = np.column_stack([n - 1.0, n * (n - 1.0)])
    (s0, k0), _ = nnls(design, lam0 * n / x - 1.0)
    start = np.array([min(s0, 0.9), min(k0, 0.9), lam0])
    # kappa multiplies N^2, so scale it by the largest load squared to condition the problem.
    scale = np.array([1.0, 1.0 / float(np.max(n)) ** 2, lam0])
    return start, scale


def _solve(n: np.ndarray, x: np.ndarray, free: np.ndarray, x0: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Bounded least squares over the ``free`` parameters, the others held at their ``x0`` values."""
    from scipy.optimize import least_squares

    def resid(p: np.ndarray) -> np.ndarray:
        full = x0.copy()
        full[free] = p
        return _model(n, *full) - x

    def jac(p: np.ndarray) -> np.ndarray:
        full = x0.copy()
        full[free] = p
        return _jacobian(n, *full)[:, free]

    p0 = np.clip(x0[free], _LOWER[free], _UPPER[free])
    # least_squares needs a strictly feasible start
    p0 = np.where(p0 <= _LOWER[free], _LOWER[free] + 1e-9 * scale[free], p0)
    res = least_squares(
        resid,
        p0,
        jac=jac,
        bounds=(_LOWER[free], _UPPER[free]),
        x_scale=scale[free],
        method="trf",
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
        max_nfev=20000,
    )
    if res.status <= 0:
        raise FitError(f"USL fit did not converge: {res.message}")
    full = x0.copy()
    full[free] = res.x
    return full


def _fit_from_starts(n: np.ndarray, x: np.ndarray, start: np.ndarray,
                     scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Two starts (ours and R usl's fixed sigma=0.01, kappa=1e-4) guard against a local minimum."""
    best, best_ssr = start, math.inf
    for x0 in (start, np.array([0.01, 1e-4, start[2]])):
        cand = _solve(n, x, np.array([True, True, True]), x0, scale)
        cand_ssr = _ssr(n, x, cand)
        if cand_ssr < best_ssr:
            best, best_ssr = cand, cand_ssr
    return best, best_ssr


def _ssr_rounding(x: np.ndarray) -> float:
    """Residual sums of squares closer than this are equal: the rounding of the data and the model."""
    return float(np.sum((8 * np.finfo(float).eps * x) ** 2))


def _pin_at_zero(n: np.ndarray, x: np.ndarray, best: np.ndarray, best_ssr: float,
                 scale: np.ndarray) -> tuple[np.ndarray, float]:
    """A coefficient that converged onto (or within rounding of) its lower bound: pin it at exactly 0
    and refit the rest; keep the pinned fit when it is at least as good."""
    near_zero = best[:2] <= 1e-7 * scale[:2]
    # on noise-free data both sums of squares are rounding noise (1e-28 against 3e-28, say), and the
    # relative comparison alone would keep kappa = 1e-18 and report a peak at a load of 10^8
    tie = _ssr_rounding(x)
    for pinned in _pin_patterns(near_zero):
        x0 = best.copy()
        x0[:2][np.array(pinned)] = 0.0
        free = np.array([not pinned[0], not pinned[1], True])
        cand = _solve(n, x, free, x0, scale)
        cand_ssr = _ssr(n, x, cand)
        if cand_ssr <= best_ssr * (1.0 + 1e-10) + tie:
            best, best_ssr = cand, cand_ssr
    return best, best_ssr


def _snap_to_bounds(n: np.ndarray, x: np.ndarray, best: np.ndarray, best_ssr: float,
                    scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Put sigma or kappa exactly on a bound when it is within ``_SNAP`` of it (relative to its scale).

    sigma (N - 1) and kappa N (N - 1) change X(N) by at most that share then, far below what any
    measurement resolves; left off the bound, a kappa of 1e-18 would claim a peak at a load of 10^8.
    """
    snapped = best.copy()
    for i in (0, 1):
        if snapped[i] <= _LOWER[i] + _SNAP * scale[i]:
            snapped[i] = _LOWER[i]
        elif snapped[i] >= _UPPER[i] - _SNAP:
            snapped[i] = _UPPER[i]
    if np.array_equal(snapped, best):
        return best, best_ssr
    return snapped, _ssr(n, x, snapped)


def _standard_errors(n: np.ndarray, p: np.ndarray, resid_var: float) -> np.ndarray:
    """``sqrt(diag((J'J)^-1) * RSS / (n - 3))``, as R's nls and usl compute them."""
    jmat = _jacobian(n, *p)
    try:
        cov = np.linalg.inv(jmat.T @ jmat) * resid_var
    except np.linalg.LinAlgError as exc:
        raise FitError(
            "USL parameters are not identifiable from these measurements (singular Jacobian)"
        ) from exc
    bse = np.sqrt(np.diag(cov))
    if not np.all(np.isfinite(bse)):
        raise FitError("USL standard errors are not finite: the measurements cannot fix 3 parameters")
    return bse


# ----------------------------------------------------------------------------- helpers


def _model(n: np.ndarray, sigma: float, kappa: float, lam: float) -> np.ndarray:
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def _jacobian(n: np.ndarray, sigma: float, kappa: float, lam: float) -> np.ndarray:
    denom = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)
    d_sigma = -lam * n * (n - 1.0) / denom**2
    d_kappa = -lam * n * n * (n - 1.0) / denom**2
    d_lam = n / denom
    return np.column_stack([d_sigma, d_kappa, d_lam])


def _ssr(n: np.ndarray, x: np.ndarray, p: np.ndarray) -> float:
    return float(np.sum((_model(n, *p) - x) ** 2))


def _polish(n: np.ndarray, x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, float]:
    """Newton steps on the gradient of the SSR for the parameters strictly inside their bounds.

    The SSR is flat along a ridge (lambda trades off against sigma), so a minimiser stopping on
    SSR changes leaves the 8th-9th digit to chance; solving gradient = 0 with the exact Hessian
    pins the stationary point down to rounding. Steps that leave the box are not taken.
    """
    free = (p > _LOWER) & (p < _UPPER)
    best, best_ssr = p.copy(), _ssr(n, x, p)
    for _ in range(8):
        sigma, kappa, lam = best
        a, b = n - 1.0, n * (n - 1.0)
        denom = 1.0 + sigma * a + kappa * b
        r = _model(n, sigma, kappa, lam) - x
        jmat = _jacobian(n, sigma, kappa, lam)
        second = np.zeros((3, 3))
        second[0, 0] = np.sum(r * 2 * lam * n * a * a / denom**3)
        second[0, 1] = second[1, 0] = np.sum(r * 2 * lam * n * a * b / denom**3)
        second[1, 1] = np.sum(r * 2 * lam * n * b * b / denom**3)
        second[0, 2] = second[2, 0] = np.sum(r * -n * a / denom**2)
        second[1, 2] = second[2, 1] = np.sum(r * -n * b / denom**2)
        hess = (jmat.T @ jmat + second)[np.ix_(free, free)]
        grad = (jmat.T @ r)[free]
        try:
            np.linalg.cholesky(hess)  # only a minimum (positive definite Hessian) is polished
            step = np.linalg.solve(hess, -grad)
        except np.linalg.LinAlgError:
            break
        cand = best.copy()
        cand[free] += step
        if np.any(cand <= _LOWER) or np.any(cand >= _UPPER):
            break
        cand_ssr = _ssr(n, x, cand)
        if not cand_ssr <= best_ssr * (1.0 + 1e-12):
            break
        done = np.all(np.abs(step) <= 1e-15 * np.abs(best[free]))
        best, best_ssr = cand, cand_ssr
        if done:
            break
    return best, best_ssr


def _pin_patterns(near_zero: np.ndarray) -> list[tuple[bool, bool]]:
    """Which (sigma, kappa) combinations to try pinned at 0, given which look like 0."""
    patterns: list[tuple[bool, bool]] = []
    if near_zero[1]:
        patterns.append((False, True))
    if near_zero[0]:
        patterns.append((True, False))
    if near_zero[0] and near_zero[1]:
        patterns.append((True, True))
    return patterns


def _validate(load: Any, throughput: Any) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    n_arr = check_numbers("fit_usl", "load", load, _POSITIVE, scalar=False, max_ndim=1)
    index = load.index if isinstance(load, pd.Series) else pd.RangeIndex(n_arr.size)
    # a bad throughput is named by its row, as the fit's data frame labels it
    labels = index if np.size(throughput) == n_arr.size else None
    x_arr = check_numbers("fit_usl", "throughput", throughput, _POSITIVE, scalar=False, max_ndim=1,
                          labels=labels)
    if n_arr.size != x_arr.size:
        # a relation between two arguments, which capacity.validation's constraints cannot state
        raise ArgumentError(
            f"fit_usl: throughput must have one value per load ({n_arr.size}), not {x_arr.size}"
        )
    if n_arr.size < 4:
        raise InputDataError(
            f"fit_usl needs at least 4 measurements (3 parameters plus 1 degree of freedom); "
            f"got {n_arr.size}"
        )
    if np.unique(n_arr).size < 3:
        raise InputDataError(
            "fit_usl needs at least 3 distinct load values to separate sigma, kappa and lambda; "
            f"got {np.unique(n_arr).size}"
        )
    return n_arr, x_arr, index


def _like(values: np.ndarray, template: Any, *, name: str) -> Any:
    """Return ``values`` in the container type of ``template`` (pvlib style)."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, name=name)
    if np.ndim(template) == 0:
        return float(values)
    return np.asarray(values, dtype=float)

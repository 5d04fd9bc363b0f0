"""Cost forms of the messaging tier: how busy cores depend on apps, deliveries and connection rates.

The plain form of :mod:`capacity.load.messaging` is

    busy_cores(N) = u0 + a*N + b*N*F_s(N)

with one cost per message (``a``) and one per delivery (``b``). Two extensions, each linear in its
parameters (all non-negative) so that the censored EM fit and its bootstrap carry over unchanged:

:class:`Quadratic` (``"quadratic"``)
    ``... + c*N**2``: a superlinear cost that fan-out does not cause (lookups in tables that grow
    with the app count, for example). Under broadcast ``N*F(N)`` is itself quadratic in ``N``, so
    without measured deliveries ``c`` and ``b`` cannot be told apart; with measured deliveries that
    vary independently of ``N`` (hosts provisioned in batches, a hardware refresh, components that
    come and go) they can, and any curvature not caused by fan-out is no longer booked as ``b``.
:class:`PerConnectionRate` (``"rate"``)
    ``... + b_r*N*D(N)/(1 + r/r0)``: part of a delivery's cost falls as the connection it is written
    to gets busier. ``r`` is the connection's message rate [messages/s], ``r0`` the rate at which
    that part has halved. On loopback TCP the receiver's acknowledgements are handled in the
    sender's context; a connection that carries sparse traffic is acknowledged segment by segment,
    a busy one's acknowledgements are coalesced (Linux's delayed-ACK timer adapts between 40 and
    200 ms, i.e. 5 to 25 acknowledgements a second). The default ``r0 = 10`` messages/s has the
    smallest held-out error over 16 committed Redis runs (``data/measured/README.md``). ``b`` is
    then the cost of a delivery on a busy connection and ``b + b_r`` on an idle one. Under
    broadcast every connection carries every message, so ``r`` grows with ``N``; under targeted
    routing it stays low. The form needs the samples' ``messages`` (publish rate [messages/s]) and
    ``connections`` (subscriber connections) columns.

A form is never chosen by its in-sample fit, which an extra parameter always improves. A form asked
for by name falls back to the plain one when the data do not determine its extra parameter (collinear,
or its bootstrap interval reaches 0), and the fit's notes say so. ``cost="auto"`` in
:func:`~capacity.load.messaging.fit_messaging` also holds the readings at the largest app counts out
and requires the form to predict them no worse than the plain one: the held-out error judges how a
form extrapolates in ``N``, the extra parameter's interval whether the data can split the cost between
what fan-out causes and what it does not (which every form predicts alike for the strategy in force,
and which a counterfactual strategy depends on).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from capacity.load.strategies import Broadcast, Strategy
from capacity.validation import Interval, check_args

__all__ = ["CostForm", "Plain", "Quadratic", "PerConnectionRate", "RateAware", "COST_FORMS", "cost_form"]

BASE_PARAMS = ("u0", "a", "b")
UNITS = {"u0": "cores", "a": "cores/app", "b": "cores/(app*delivery)", "c": "cores/app^2",
         "b_r": "cores/(app*delivery)"}
_POSITIVE = [Interval(float, 0, None, closed="neither")]


class CostForm(ABC):
    """A cost form: the columns of the design, ``busy_cores = columns @ params``.

    Subclasses are frozen dataclasses; :attr:`params` names the parameters (``u0, a, b`` first),
    :attr:`needs` the per-reading inputs beyond apps and deliveries.
    """

    name: ClassVar[str]
    params: ClassVar[tuple[str, ...]] = BASE_PARAMS
    needs: ClassVar[tuple[str, ...]] = ()

    @property
    def extra(self) -> tuple[str, ...]:
        """The parameters beyond ``u0, a, b``."""
        return self.params[len(BASE_PARAMS):]

    def columns(self, apps: np.ndarray, deliveries: np.ndarray, delivered: np.ndarray | None = None,
                rate: np.ndarray | None = None) -> np.ndarray:
        """Design columns, shape ``apps.shape + (len(params),)``.

        Parameters
        ----------
        apps : ndarray
            Live apps [apps].
        deliveries : ndarray
            Deliveries per message in delivery-equivalents (the cost's ``F``) [deliveries].
        delivered : ndarray, optional
            Deliveries per message a broker counts [deliveries]; defaults to ``deliveries``.
        rate : ndarray, optional
            Message rate of each subscriber connection [messages/s] (forms that need it).
        """
        base = [np.ones_like(apps), apps, apps * deliveries]
        extra = self._extra_columns(apps, deliveries if delivered is None else delivered, rate)
        return np.stack(base + extra, axis=-1)

    @abstractmethod
    def _extra_columns(self, apps: np.ndarray, delivered: np.ndarray, rate: np.ndarray | None) -> list:
        """The columns of :attr:`extra`."""

    def describe(self) -> str:
        """The form as a formula."""
        return "u0 + a*N + b*N*F(N)"


@dataclass(frozen=True)
class Plain(CostForm):
    """``busy = u0 + a*N + b*N*F(N)``: one cost per message, one per delivery."""

    name: ClassVar[str] = "plain"

    def _extra_columns(self, apps: np.ndarray, delivered: np.ndarray, rate: np.ndarray | None) -> list:
        return []


@dataclass(frozen=True)
class Quadratic(CostForm):
    """``busy = u0 + a*N + c*N**2 + b*N*F(N)``: a superlinear cost not caused by fan-out."""

    name: ClassVar[str] = "quadratic"
    params: ClassVar[tuple[str, ...]] = (*BASE_PARAMS, "c")

    def _extra_columns(self, apps: np.ndarray, delivered: np.ndarray, rate: np.ndarray | None) -> list:
        return [apps**2]

    def describe(self) -> str:
        return "u0 + a*N + c*N^2 + b*N*F(N)"


@dataclass(frozen=True)
class PerConnectionRate(CostForm):
    """``busy = u0 + a*N + b*N*F(N) + b_r*N*D(N)/(1 + r/r0)``: deliveries get cheaper on busy connections.

    Parameters
    ----------
    r0 : float, default 10
        Per-connection message rate at which the rate-dependent part of a delivery's cost has
        halved [messages/s], > 0.
    """

    r0: float = 10.0
    name: ClassVar[str] = "rate"
    params: ClassVar[tuple[str, ...]] = (*BASE_PARAMS, "b_r")
    needs: ClassVar[tuple[str, ...]] = ("messages", "connections")

    def __post_init__(self) -> None:
        check_args("PerConnectionRate", r0=(self.r0, _POSITIVE))

    def weight(self, rate: Any) -> np.ndarray:
        """``1 / (1 + r/r0)``: the share of the rate-dependent cost left at rate ``r`` [messages/s]."""
        return 1.0 / (1.0 + np.asarray(rate, dtype=float) / self.r0)

    def _extra_columns(self, apps: np.ndarray, delivered: np.ndarray, rate: np.ndarray | None) -> list:
        if rate is None:
            raise ValueError("the 'rate' cost form needs the per-connection message rate")
        return [apps * delivered * self.weight(rate)]

    def describe(self) -> str:
        return f"u0 + a*N + b*N*F(N) + b_r*N*D(N)/(1 + r/{self.r0:g})"


#: name -> form class (``cost="quadratic"`` in :func:`~capacity.load.messaging.fit_messaging`)
COST_FORMS: dict[str, type[CostForm]] = {cls.name: cls for cls in (Plain, Quadratic, PerConnectionRate)}


def cost_form(value: str | CostForm) -> CostForm:
    """The form meant by a name (default settings) or a form object."""
    return COST_FORMS[value]() if isinstance(value, str) else value


@dataclass(frozen=True)
class RateAware(Strategy):
    """A strategy together with what its connections carry, for :class:`PerConnectionRate`.

    The fit wraps every strategy in it when it uses the rate form, so that predictions, planning and
    counterfactuals know each connection's message rate at any app count:
    ``r(N) = messages_per_app * N * D(N) / connections(N)``.

    Parameters
    ----------
    base : Strategy
        The fan-out strategy.
    messages_per_app : float
        Publish rate per app [messages/(s*app)], > 0.
    connections : Broadcast
        Subscriber connections against apps (the same law as a broadcast's fan-out: every
        component holds one connection) [connections].
    form : PerConnectionRate
    """

    base: Strategy
    messages_per_app: float
    connections: Broadcast
    form: PerConnectionRate
    kind: ClassVar[str] = "rate-aware"

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.base.name

    def fanout(self, apps: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.base.fanout(apps), np.shape(apps))

    def delivered(self, apps: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.base.delivered(apps), np.shape(apps))

    def connection_rate(self, apps: np.ndarray) -> np.ndarray:
        """Messages per second on each subscriber connection at ``apps`` apps [messages/s]."""
        conns = np.maximum(np.asarray(self.connections.fanout(apps), dtype=float), 1.0)
        return self.messages_per_app * apps * self.delivered(apps) / conns

    def rate_weight(self, apps: np.ndarray) -> np.ndarray:
        """The form's weight ``1 / (1 + r(N)/r0)`` at ``apps`` apps."""
        return self.form.weight(self.connection_rate(apps))

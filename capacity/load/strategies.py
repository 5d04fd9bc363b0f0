"""Fan-out strategies: how many deliveries one message costs at a given app count.

The messaging cost model (:mod:`capacity.load.messaging`) is

    busy_cores(N) = u0 + a*N + b*N*F_s(N)

where ``F_s(N)`` is the number of deliveries one message causes under fan-out strategy ``s`` when
``N`` apps are live. A strategy is a small frozen object with a ``name`` and a vectorised
``deliveries(apps)`` method; subclass :class:`Strategy` to define your own (it only needs
``deliveries``, which should be non-negative and, for :meth:`MessagingModel.apps_at` to be
meaningful, non-decreasing in ``apps``).

``deliveries`` keeps the pandas type: a Series in gives a Series out with the same index, a numpy
array gives an array of the same shape, a scalar gives a float.

**Measured fan-out.** A broker counts its deliveries (Redis PUBLISH returns the receiver count;
RabbitMQ and Kafka expose publish and deliver rates), so the parameters of a strategy's formula can
be estimated instead of typed in. :meth:`Strategy.delivered` is what the broker counts per message
(for the built-in strategies that is :meth:`~Strategy.deliveries`, except for
:class:`PatternSubscription`, whose pattern scan is cost without deliveries). It is linear in the
fields named by :attr:`Strategy.measured_fields`: ``delivered(N) = measured_terms(N) @ theta``, and
:meth:`Strategy.from_measured` builds the strategy from fitted ``theta``;
:func:`capacity.load.fanout.fit_fanout` does the fit. A planner's own strategy can take part by
defining the three.

Configuration files describe a strategy as a table with a ``kind`` key and the constructor's
keywords, e.g. ``{"kind": "broadcast", "base_components": 40, "apps_per_component": 100}``;
:func:`strategy_from_config` and :func:`strategies_from_config` build the objects, and a bad table raises
:class:`~capacity.errors.ConfigError`. Bad arguments of the classes themselves (``Targeted(k=-1)``,
``deliveries(-5)``) raise :class:`~capacity.errors.ArgumentError`. :func:`resolve_strategy` turns a
strategy name or object into a Strategy, for the functions that take either.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, ConfigError
from capacity.validation import HasMethods, InstanceOf, Interval, Options, Text, check_args
from capacity.validation.arrays import check_numbers

__all__ = [
    "Strategy",
    "Broadcast",
    "Targeted",
    "Sharded",
    "PatternSubscription",
    "STRATEGY_KINDS",
    "FIELD_UNITS",
    "strategy_from_config",
    "strategies_from_config",
    "resolve_strategy",
]

# what the numeric fields may be: a count or size that can be 0, one that cannot, and a "per" size,
# which may be infinite (math.inf apps per component: a fixed fleet)
_NON_NEGATIVE = [Interval(float, 0, None)]
_POSITIVE = [Interval(float, 0, None, closed="neither")]
_PER = [Interval(float, 0, None, closed="neither"), Options([math.inf])]
#: what ``apps`` may be in :meth:`Strategy.deliveries`
_APPS = Interval(float, 0, None)

#: units of the fields that measured deliveries determine
FIELD_UNITS = {"base_components": "components", "apps_per_component": "apps/component", "k": "deliveries"}


def _per(slope: Any) -> Any:
    """``1 / slope`` with ``inf`` for a zero slope (a fixed fleet), for arrays of replicates too."""
    slope = np.asarray(slope, dtype=float)
    with np.errstate(divide="ignore"):
        out = np.where(slope > 0, 1.0 / np.where(slope > 0, slope, 1.0), math.inf)
    return float(out) if out.ndim == 0 else out


class Strategy(ABC):
    """A fan-out strategy: deliveries per message as a function of the live app count.

    Subclasses are frozen dataclasses with a ``name`` field (the label used in sample data, charts
    and reports) and implement :meth:`_deliveries` on a float numpy array; :meth:`deliveries`
    handles the pandas/numpy/scalar plumbing.
    """

    name: str
    kind: ClassVar[str] = "custom"
    #: fields that measured deliveries determine (:mod:`capacity.load.fanout`); empty: none
    measured_fields: ClassVar[tuple[str, ...]] = ()

    def deliveries(self, apps: Any) -> Any:
        """Deliveries per message at ``apps`` live apps.

        Parameters
        ----------
        apps : float, array-like or pandas Series
            Live app count(s) [apps], finite and >= 0.

        Returns
        -------
        float, numpy.ndarray or pandas Series
            Deliveries per message [deliveries], same shape (and index, for a Series) as ``apps``.

        Raises
        ------
        ArgumentError
            ``apps`` is not numbers, or one is negative or not finite (the message names it).
        """
        array = check_numbers(f"{type(self).__name__}.deliveries", "apps", apps, _APPS)
        if isinstance(apps, pd.Series):
            return pd.Series(self.fanout(array), index=apps.index, name="deliveries")
        out = np.broadcast_to(self.fanout(array), array.shape)
        return float(out) if out.ndim == 0 else np.array(out)

    @abstractmethod
    def fanout(self, apps: np.ndarray) -> np.ndarray:
        """Deliveries per message [deliveries] for a float array of app counts (any shape)."""

    def delivered(self, apps: np.ndarray) -> np.ndarray:
        """Deliveries per message a broker counts [deliveries], for a float array of app counts.

        :meth:`fanout` is the cost in delivery-equivalents; a strategy whose cost includes work
        without deliveries (a pattern scan) counts less. The default is :meth:`fanout`.
        """
        return np.broadcast_to(self.fanout(apps), np.shape(apps))

    def measured_terms(self, apps: np.ndarray) -> np.ndarray:
        """Columns ``X`` with ``delivered(N) = X @ theta``, shape ``apps.shape + (p,)``; ``p`` is
        the length of :attr:`measured_fields` (0 here: nothing to fit)."""
        return np.zeros(np.shape(apps) + (0,))

    def measured_values(self, theta: Any) -> dict[str, Any]:
        """The measured fields from ``theta`` (shape ``(..., p)``; replicates give arrays)."""
        return {}

    def from_measured(self, theta: Any) -> Strategy:
        """This strategy with its measured fields set from ``theta`` (one vector, length ``p``).

        Raises
        ------
        ArgumentError
            A value the strategy refuses (e.g. ``k = 0`` for :class:`Targeted`).
        """
        values = {k: float(v) for k, v in self.measured_values(np.asarray(theta, dtype=float)).items()}
        return dataclasses.replace(self, **values) if values else self


@dataclass(frozen=True)
class Broadcast(Strategy):
    """Every message goes to every component; components grow with the app count.

    ``F(N) = base_components + N / apps_per_component``: a fixed set of platform components
    (routers, schedulers, API nodes) plus one runtime host per ``apps_per_component`` apps.

    Parameters
    ----------
    base_components : float, default 40
        Components that exist regardless of the app count [components].
    apps_per_component : float, default 100
        Apps served per additional component [apps/component]; ``math.inf`` for a fixed fleet.
    name : str, default "broadcast"
    """

    base_components: float = 40.0
    apps_per_component: float = 100.0
    name: str = "broadcast"
    kind: ClassVar[str] = "broadcast"
    measured_fields: ClassVar[tuple[str, ...]] = ("base_components", "apps_per_component")

    def __post_init__(self) -> None:
        check_args("Broadcast", base_components=(self.base_components, _NON_NEGATIVE),
                   apps_per_component=(self.apps_per_component, _PER), name=(self.name, [Text()]))

    def fanout(self, apps: np.ndarray) -> np.ndarray:
        return self.base_components + apps / self.apps_per_component

    def measured_terms(self, apps: np.ndarray) -> np.ndarray:
        # F = base + N * (1 / apps_per_component): linear in (base, 1/apps_per_component)
        return np.stack([np.ones_like(apps), apps], axis=-1)

    def measured_values(self, theta: Any) -> dict[str, Any]:
        theta = np.asarray(theta, dtype=float)
        return {"base_components": theta[..., 0], "apps_per_component": _per(theta[..., 1])}


@dataclass(frozen=True)
class Targeted(Strategy):
    """Each message goes only to the ``k`` components that need it: ``F(N) = k``.

    Parameters
    ----------
    k : float, default 3
        Components interested in a typical message [deliveries], > 0 (need not be whole: an average).
    name : str, default "targeted"
    """

    k: float = 3.0
    name: str = "targeted"
    kind: ClassVar[str] = "targeted"
    measured_fields: ClassVar[tuple[str, ...]] = ("k",)

    def __post_init__(self) -> None:
        # k > 0: a targeted message reaches some component; with k = 0 the delivery cost would vanish
        check_args("Targeted", k=(self.k, _POSITIVE), name=(self.name, [Text()]))

    def fanout(self, apps: np.ndarray) -> np.ndarray:
        return np.full_like(apps, float(self.k))

    def measured_terms(self, apps: np.ndarray) -> np.ndarray:
        return np.ones(np.shape(apps) + (1,))

    def measured_values(self, theta: Any) -> dict[str, Any]:
        return {"k": np.asarray(theta, dtype=float)[..., 0]}


@dataclass(frozen=True)
class Sharded(Strategy):
    """Components are split evenly into ``shards`` groups; a message is broadcast within one group.

    ``F(N) = (base_components + N / apps_per_component) / shards``: the broadcast fan-out divided by
    the shard count, so it still grows with the app count, ``shards`` times more slowly.

    Parameters
    ----------
    shards : float, default 8
        Number of shards [shards].
    base_components : float, default 40
        As in :class:`Broadcast` [components].
    apps_per_component : float, default 100
        As in :class:`Broadcast` [apps/component].
    name : str, default "sharded"
    """

    shards: float = 8.0
    base_components: float = 40.0
    apps_per_component: float = 100.0
    name: str = "sharded"
    kind: ClassVar[str] = "sharded"
    #: the shard count is known to the operator; measured deliveries give the components' law
    measured_fields: ClassVar[tuple[str, ...]] = ("base_components", "apps_per_component")

    def __post_init__(self) -> None:
        check_args("Sharded", shards=(self.shards, _POSITIVE),
                   base_components=(self.base_components, _NON_NEGATIVE),
                   apps_per_component=(self.apps_per_component, _PER), name=(self.name, [Text()]))

    def fanout(self, apps: np.ndarray) -> np.ndarray:
        return (self.base_components + apps / self.apps_per_component) / self.shards

    def measured_terms(self, apps: np.ndarray) -> np.ndarray:
        return np.stack([np.ones_like(apps), apps], axis=-1) / self.shards

    def measured_values(self, theta: Any) -> dict[str, Any]:
        theta = np.asarray(theta, dtype=float)
        return {"base_components": theta[..., 0], "apps_per_component": _per(theta[..., 1])}


@dataclass(frozen=True)
class PatternSubscription(Strategy):
    """Components subscribe with patterns; every message is matched against every pattern.

    ``F(N) = k + scan_cost * (base_patterns + N / apps_per_pattern)``: the ``k`` real deliveries
    plus the cost of scanning the pattern table, expressed in delivery-equivalents (one pattern
    match costs ``scan_cost`` deliveries). The table holds ``base_patterns`` platform patterns plus
    one per ``apps_per_pattern`` apps, so the scan cost grows with the app count like a broadcast,
    only with a (usually much) smaller slope.

    Parameters
    ----------
    k : float, default 3
        Deliveries per message after matching [deliveries].
    base_patterns : float, default 40
        Patterns that exist regardless of the app count [patterns].
    apps_per_pattern : float, default 1
        Apps per additional pattern [apps/pattern] (1: each app subscribes one pattern).
    scan_cost : float, default 0.001
        Cost of matching one pattern, relative to one delivery [deliveries/pattern].
    name : str, default "pattern"
    """

    k: float = 3.0
    base_patterns: float = 40.0
    apps_per_pattern: float = 1.0
    scan_cost: float = 0.001
    name: str = "pattern"
    kind: ClassVar[str] = "pattern"
    #: a broker counts the ``k`` deliveries; the scan is cost without deliveries and stays as configured
    measured_fields: ClassVar[tuple[str, ...]] = ("k",)

    def __post_init__(self) -> None:
        check_args("PatternSubscription", k=(self.k, _NON_NEGATIVE),
                   base_patterns=(self.base_patterns, _NON_NEGATIVE),
                   apps_per_pattern=(self.apps_per_pattern, _PER), scan_cost=(self.scan_cost, _NON_NEGATIVE),
                   name=(self.name, [Text()]))

    def fanout(self, apps: np.ndarray) -> np.ndarray:
        return self.k + self.scan_cost * (self.base_patterns + apps / self.apps_per_pattern)

    def delivered(self, apps: np.ndarray) -> np.ndarray:
        return np.full(np.shape(apps), float(self.k))

    def measured_terms(self, apps: np.ndarray) -> np.ndarray:
        return np.ones(np.shape(apps) + (1,))

    def measured_values(self, theta: Any) -> dict[str, Any]:
        return {"k": np.asarray(theta, dtype=float)[..., 0]}


#: config ``kind`` -> strategy class
STRATEGY_KINDS: dict[str, type[Strategy]] = {
    cls.kind: cls for cls in (Broadcast, Targeted, Sharded, PatternSubscription)
}


def strategy_from_config(config: Mapping[str, Any], *, name: str | None = None) -> Strategy:
    """Build a strategy from a configuration table.

    Parameters
    ----------
    config : mapping
        ``{"kind": <one of STRATEGY_KINDS>, **keywords}``, e.g.
        ``{"kind": "targeted", "k": 3}``.
    name : str, optional
        Name for the strategy (typically the table's key in the config file); defaults to
        ``config["name"]`` if present, else the kind's default name.

    Returns
    -------
    Strategy

    Raises
    ------
    ConfigError
        If ``kind`` is missing or unknown (the message lists the known kinds), or a key is not a
        parameter of that kind, or a value is invalid.
    """
    # only the type of name is an argument matter; its value is a config key, checked by the class
    check_args("strategy_from_config", name=(name, [InstanceOf(str), None]))
    label = f"strategy {name!r}" if name is not None else "strategy"
    if not isinstance(config, Mapping):
        raise ConfigError(f"{label}: expected a table with a 'kind' key, not {config!r}")
    params = dict(config)
    known = ", ".join(sorted(STRATEGY_KINDS))
    if "kind" not in params:
        raise ConfigError(f"{label}: missing key 'kind' (one of {known})")
    kind = params.pop("kind")
    cls = STRATEGY_KINDS.get(kind)
    if cls is None:
        raise ConfigError(f"{label}: unknown kind {kind!r}; known kinds: {known}")
    if name is not None:
        params.setdefault("name", name)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        allowed = ", ".join(sorted(fields - {"name"}))
        raise ConfigError(f"{label}: unknown key(s) {unknown} for kind {kind!r}; allowed: {allowed}")
    for key, value in params.items():
        if key != "name" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{label}: {key} must be a number, not {value!r}")
    try:
        return cls(**params)
    except ArgumentError as err:  # a value the class refuses is a bad config value here
        raise ConfigError(f"{label}: {err}") from None


def strategies_from_config(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Strategy]:
    """Build named strategies from ``{name: {"kind": ..., ...}}`` (each named by its key).

    Returns
    -------
    dict
        ``{name: Strategy}``, in the order given.

    Raises
    ------
    ConfigError
        ``tables`` is not a table of tables, or one of them is unusable (see :func:`strategy_from_config`).
    """
    if not isinstance(tables, Mapping):
        raise ConfigError(f"strategies: expected a table of strategy tables, not {tables!r}")
    return {name: strategy_from_config(table, name=name) for name, table in tables.items()}


def resolve_strategy(strategy: Any, known: Mapping[str, Strategy], *, owner: str = "resolve_strategy",
                     name: str = "strategy") -> Strategy:
    """The Strategy meant by ``strategy``: a name looked up in ``known``, or a Strategy as it is.

    Parameters
    ----------
    strategy : str or Strategy
        A name among ``known``, or any object with a ``deliveries`` method (a counterfactual
        strategy need not be known).
    known : mapping
        Strategy name -> Strategy.
    owner : str, default "resolve_strategy"
        The function the error message names (the one whose argument ``strategy`` is).
    name : str, default "strategy"
        The argument the error message names.

    Returns
    -------
    Strategy

    Raises
    ------
    ArgumentError
        ``strategy`` is neither a known name nor a Strategy (the message lists the known names).
    """
    allowed = [Options(sorted(known))] if known else []
    check_args(owner, **{name: (strategy, [*allowed, HasMethods("deliveries", what="a Strategy")])})
    return known[strategy] if isinstance(strategy, str) else strategy

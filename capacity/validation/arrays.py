"""Array arguments: numbers checked item by item, and required entries.

The constraints of :mod:`capacity.validation` describe one value. The load functions are vectorised
(queueing, the cost model, the fan-out strategies take scalars, arrays and Series), so an argument may
hold many numbers; :func:`check_numbers` checks every one and names the first bad item in the usual
message, ``"erlang_c: servers[2] must be an integer >= 1, not 0"``. :class:`Numbers` and
:class:`Includes` are :class:`~capacity.validation.Constraint` kinds like the others (kept in their
own module because they need numpy and pandas, which the scalar constraints do not).
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.validation import Constraint, Interval, check_args

__all__ = ["Numbers", "Includes", "check_numbers"]


_ARRAY_LIKE = (Sequence, np.ndarray, pd.Series, pd.Index)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Numbers(Constraint):
    """A number, or an array-like (list, tuple, ndarray, Series) of numbers, each meeting ``each``.

    ``scalar=False`` asks for an array (at least 1-D); ``max_ndim`` caps the dimensions. An integer
    ``each`` takes whole numbers in float arrays too (arrays of counts are often float), but a bare
    ``2.0`` is refused like everywhere else in the package.
    """

    each: Interval
    scalar: bool = True
    max_ndim: int | None = None

    def array(self, value: Any) -> np.ndarray | None:
        """``value`` as a float array, or None if it is not numbers of an allowed shape."""
        if isinstance(value, str | bytes) or not isinstance(value, _ARRAY_LIKE):
            if not self.scalar or _is_bool(value) or not isinstance(value, numbers.Real):
                return None
            return np.asarray(float(value))
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested lists
            return None
        if raw.dtype.kind == "O":
            if not all(isinstance(v, numbers.Real) and not _is_bool(v) for v in raw.ravel()):
                return None
        elif raw.dtype.kind not in "iuf":
            return None
        if (raw.ndim == 0 and not self.scalar) or (self.max_ndim is not None and raw.ndim > self.max_ndim):
            return None
        return raw.astype(float, copy=False)

    def bad(self, values: np.ndarray) -> np.ndarray:
        """Which items of a float array break ``each`` (non-finite, out of range, or not whole)."""
        e = self.each
        with np.errstate(invalid="ignore"):
            out = ~np.isfinite(values)
            if e.left is not None:
                out |= values <= e.left if e.closed in ("right", "neither") else values < e.left
            if e.right is not None:
                out |= values >= e.right if e.closed in ("left", "neither") else values > e.right
            if e.kind is int:
                out |= values != np.round(values)
        return out

    def all_good(self, values: np.ndarray) -> bool:
        """Whether every item of a float array meets ``each``: two reductions, no temporaries (the
        cost model checks arrays of paths x days on every call)."""
        if values.size == 0:
            return True
        lo, hi = float(values.min()), float(values.max())  # NaN propagates into both
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return False
        e = self.each
        if e.left is not None and (lo < e.left or (lo == e.left and e.closed in ("right", "neither"))):
            return False
        if e.right is not None and (hi > e.right or (hi == e.right and e.closed in ("left", "neither"))):
            return False
        return e.kind is not int or bool(np.all(values == np.round(values)))

    def holds(self, value: Any) -> bool:
        values = self.array(value)
        return values is not None and self.all_good(values)

    def __str__(self) -> str:
        array = "a 1-D array" if self.max_ndim == 1 else "an array"
        if self.scalar:
            return f"{self.each} or {array} of them"
        return f"{array} of numbers, each {self.each}"


@dataclass(frozen=True)
class Includes(Constraint):
    """A collection (of names) that includes every one of ``keys``."""

    keys: tuple[str, ...]

    def holds(self, value: Any) -> bool:
        if isinstance(value, str) or not isinstance(value, Collection):
            return False
        return all(k in value for k in self.keys)

    def __str__(self) -> str:
        return "a collection including " + ", ".join(repr(k) for k in self.keys)


def _label(name: str, value: Any, values: np.ndarray, flat: int, labels: Any) -> str:
    """``name[i]`` for the bad item: its row label for a Series (or given labels), its position otherwise."""
    if values.ndim == 0:
        return name
    if labels is None and isinstance(value, pd.Series):
        labels = value.index
    if labels is not None and values.ndim == 1:
        where = labels[flat]
        return f"{name}[{where!r}]" if isinstance(where, str) else f"{name}[{where}]"
    return f"{name}[{', '.join(str(int(i)) for i in np.unravel_index(flat, values.shape))}]"


def check_numbers(owner: str, name: str, value: Any, each: Interval, *, scalar: bool = True,
                  max_ndim: int | None = None, labels: Any = None) -> np.ndarray:
    """Check that ``value`` is numbers each meeting ``each``; return them as a float array.

    Parameters
    ----------
    owner, name : str
        The function and the argument, as the message names them.
    value : number, array-like or Series
    each : Interval
        What every item must be.
    scalar, max_ndim
        As in :class:`Numbers`.
    labels : sequence, optional
        Row labels for a 1-D ``value`` (a Series brings its own index).

    Raises
    ------
    ArgumentError
        Not numbers (``"owner: name must be ..."``) or a bad item (``"owner: name[3] must be ..."``).
    """
    constraint = Numbers(each, scalar=scalar, max_ndim=max_ndim)
    values = constraint.array(value)
    if values is None:
        check_args(owner, **{name: (value, [constraint])})  # raises: not numbers at all
    if not constraint.all_good(values):
        flat = int(np.argmax(constraint.bad(values).ravel()))
        item = float(values.ravel()[flat])
        shown = int(item) if item.is_integer() and abs(item) < 2**53 else item  # "0", not "0.0"
        check_args(owner, **{_label(name, value, values, flat, labels): (shown, [each])})
    return values

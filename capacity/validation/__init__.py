"""Declared constraints on function arguments, checked in one place.

Every public function and class of `capacity` states what each argument may be, and checks it here
before doing any work (the idea of scikit-learn's ``utils/_param_validation.py``)::

    check_args("plan", servers=(servers, [Interval(int, 1, None)]),
               limit=(limit, [Interval(float, 0, 1, closed="right"), HasMethods("utilisation")]))

An argument passes when it meets any one of its constraints; ``None`` in the list allows ``None``.
A failure raises :class:`~capacity.errors.ArgumentError` (a ``ValueError`` and a ``TypeError``)
whose message names the function, the argument, the value given and what is allowed, e.g.
``plan: servers must be an integer >= 1, not 0``.

Config files and data files have their own errors (``ConfigError``, ``InputDataError``); this module
is for arguments of Python calls.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from capacity.errors import ArgumentError

__all__ = [
    "Constraint",
    "Interval",
    "Options",
    "InstanceOf",
    "HasMethods",
    "DateLike",
    "StrList",
    "Seed",
    "Boolean",
    "Text",
    "PATH",
    "check_args",
    "check_mapping",
    "describe",
]


class Constraint:
    """One thing an argument may be: ``holds(value)`` says whether it is, ``__str__`` says it in words."""

    def holds(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


@dataclass(frozen=True)
class Interval(Constraint):
    """A finite number of ``kind`` (``int`` or ``float``) between ``left`` and ``right`` (None: unbounded).

    ``closed`` is "both", "left", "right" or "neither". An int constraint accepts Python and numpy
    integers (not bools, not 2.0); a float constraint accepts any real number except bools, NaN and
    infinities.
    """

    kind: type
    left: float | None
    right: float | None
    closed: str = "both"

    def holds(self, value: Any) -> bool:
        if _is_bool(value):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            return False
        x = float(value) if self.kind is not int else int(value)
        if self.left is not None:
            if x < self.left or (x == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if x > self.right or (x == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        noun = "an integer" if self.kind is int else "a finite number"
        lo = None if self.left is None else (">" if self.closed in ("right", "neither") else ">=")
        hi = None if self.right is None else ("<" if self.closed in ("left", "neither") else "<=")
        if lo and hi:
            lb = "(" if lo == ">" else "["
            rb = ")" if hi == "<" else "]"
            return f"{noun} in {lb}{_num(self.left)}, {_num(self.right)}{rb}"
        if lo:
            return f"{noun} {lo} {_num(self.left)}"
        if hi:
            return f"{noun} {hi} {_num(self.right)}"
        return noun


def _num(x: float | None) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values (compared with ``==``; strings must be ``str``)."""

    values: tuple[Any, ...]

    def __init__(self, values: Iterable[Any]) -> None:
        object.__setattr__(self, "values", tuple(values))

    def holds(self, value: Any) -> bool:
        try:
            return any(type(value) is type(v) and value == v for v in self.values) or (
                isinstance(value, str) and value in [v for v in self.values if isinstance(v, str)])
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class InstanceOf(Constraint):
    """An instance of one of ``types`` (a bool is not taken for a number)."""

    types: tuple[type, ...]

    def __init__(self, *types: type) -> None:
        object.__setattr__(self, "types", types)

    def holds(self, value: Any) -> bool:
        if _is_bool(value) and bool not in self.types:
            return False
        return isinstance(value, self.types)

    def __str__(self) -> str:
        names = [t.__name__ for t in self.types]
        return "a " + " or ".join(names)


@dataclass(frozen=True)
class HasMethods(Constraint):
    """Any object with these methods or attributes (duck typing, e.g. a growth model with ``paths``)."""

    names: tuple[str, ...]
    what: str = ""

    def __init__(self, *names: str, what: str = "") -> None:
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "what", what)

    def holds(self, value: Any) -> bool:
        return all(hasattr(value, n) for n in self.names)

    def __str__(self) -> str:
        return self.what or "an object with " + ", ".join(f"{n!r}" for n in self.names)


@dataclass(frozen=True)
class DateLike(Constraint):
    """A date: ``datetime.date``/``datetime``, a pandas Timestamp or an ISO 8601 string within 1678..2261."""

    def holds(self, value: Any) -> bool:
        if isinstance(value, dt.date):
            return 1678 <= value.year <= 2261
        if not isinstance(value, str):
            return False
        try:
            parsed = dt.date.fromisoformat(value[:10])
        except ValueError:
            return False
        if len(value) > 10:
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                return False
        return 1678 <= parsed.year <= 2261

    def __str__(self) -> str:
        return "a date (ISO 8601 string such as '2010-10-20', a date or a Timestamp)"


@dataclass(frozen=True)
class StrList(Constraint):
    """A non-empty list or tuple of distinct strings, each one of ``options`` if given (not a bare str)."""

    options: tuple[str, ...] | None = None

    def __init__(self, options: Collection[str] | None = None) -> None:
        object.__setattr__(self, "options", None if options is None else tuple(options))

    def holds(self, value: Any) -> bool:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
            return False
        items = list(value)
        if not items or not all(isinstance(v, str) for v in items) or len(set(items)) != len(items):
            return False
        return self.options is None or all(v in self.options for v in items)

    def __str__(self) -> str:
        if self.options is None:
            return "a non-empty list of distinct strings"
        return "a non-empty list of distinct names from " + ", ".join(repr(v) for v in self.options)


@dataclass(frozen=True)
class Seed(Constraint):
    """A random seed: an integer >= 0 or a ``numpy.random.Generator``."""

    def holds(self, value: Any) -> bool:
        if Interval(int, 0, None).holds(value):
            return True
        return type(value).__name__ == "Generator" and hasattr(value, "integers")

    def __str__(self) -> str:
        return "an integer >= 0 or a numpy Generator"


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False`` (numpy bools too; not 0 or 1)."""

    def holds(self, value: Any) -> bool:
        return _is_bool(value)

    def __str__(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Text(Constraint):
    """A non-empty string without control characters (names end up in charts, files and reports)."""

    def holds(self, value: Any) -> bool:
        return isinstance(value, str) and value.strip() != "" and not any(
            ord(c) < 32 or 127 <= ord(c) < 160 for c in value)

    def __str__(self) -> str:
        return "a non-empty string without control characters"


#: a file argument: a non-empty string or an os.PathLike ('' would silently mean the working directory)
PATH = (Text(), HasMethods("__fspath__", what="a path (os.PathLike)"))


def describe(value: Any) -> str:
    """The value as an error message shows it: its repr on one line, shortened, its type when that helps."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "ndim") and value.ndim >= 1 and len(value) > 3:
        # a frame or array is shown by its kind and shape, not by a multi-line repr
        return f"<{type(value).__name__} of shape {tuple(shape)}>"
    try:
        text = " ".join(repr(value).split())
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, int | float | str | type(None)) and not _is_bool(value):
        return text
    return f"{text} ({type(value).__name__})"


def _allowed(constraints: Sequence[Constraint | None]) -> str:
    words = [str(c) for c in constraints if c is not None]
    if None in constraints:
        words.append("None")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def check_args(owner: str, **args: tuple[Any, Sequence[Constraint | None]]) -> None:
    """Check arguments against their declared constraints; raise on the first that meets none.

    Parameters
    ----------
    owner : str
        The function or class the arguments belong to, as the message names it.
    **args : (value, constraints)
        Per argument name, the value given and the list of constraints it may meet (any one).

    Raises
    ------
    ArgumentError
        ``"<owner>: <name> must be <allowed>, not <value>"``.
    """
    for name, (value, constraints) in args.items():
        if value is None and None in constraints:
            continue
        if any(c is not None and c.holds(value) for c in constraints):
            continue
        raise ArgumentError(f"{owner}: {name} must be {_allowed(constraints)}, not {describe(value)}")


def check_mapping(owner: str, name: str, value: Any, *, keys: Collection[str] | None = None,
                  values: Sequence[Constraint] = ()) -> None:
    """Check a mapping argument: its keys among ``keys`` (if given), its values meeting ``values``."""
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{owner}: {name} must be a mapping, not {describe(value)}")
    for key, item in value.items():
        if keys is not None and key not in keys:
            known = ", ".join(sorted(map(str, keys)))
            raise ArgumentError(f"{owner}: {name} has unknown key {key!r} (known: {known})")
        if values and not any(c.holds(item) for c in values):
            raise ArgumentError(f"{owner}: {name}[{key!r}] must be {_allowed(values)}, not {describe(item)}")

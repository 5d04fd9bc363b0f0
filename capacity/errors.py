"""The exceptions `capacity` raises.

Every error the package raises on purpose derives from :class:`CapacityError`, so a caller can catch
them all in one place; the ones about bad input are also ``ValueError`` so generic code still works.
"""

from __future__ import annotations

__all__ = ["CapacityError", "ArgumentError", "InputDataError", "ConfigError", "FitError"]


class CapacityError(Exception):
    """Base class of every error `capacity` raises on purpose."""


class ArgumentError(CapacityError, ValueError, TypeError):
    """A function argument is of the wrong type or out of range; the message names the argument, the value
    given and what is allowed (raised by :func:`capacity.validation.check_args`)."""


class InputDataError(CapacityError, ValueError):
    """A data file or frame is unusable; the message names the file, the column and the first bad row."""


class ConfigError(CapacityError, ValueError):
    """A planning configuration is unusable; the message names the file and the key."""


class FitError(CapacityError, RuntimeError):
    """A model could not be fitted to data that passed validation (the message says why)."""

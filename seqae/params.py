"""One declarative checker for every parameter: detectors, thresholds and pipeline files.

A class lists its parameters' constraints (as scikit-learn's `_parameter_constraints` does) and
`check_params` raises a one-line `ConfigError` naming the first parameter that breaks its own:

    >>> check_params({"epochs": 0}, {"epochs": Integer(1)})
    Traceback (most recent call last):
    ...
    seqae.errors.ConfigError: epochs must be a positive integer, got 0

Each constraint says what it expects in words; `message=` replaces the whole message where a
parameter needs its own wording: a format string (`{name}`, `{value!r}` and the other parameters
fill it in) or a function of (name, value, params).

A class can declare each parameter once, whole: a `Param` (default, constraint, meaning) in a
class-level `parameters` table, and the defaults it changes in `defaults`. `declared_parameters`
merges a class's tables with its bases', and `keyword_init` writes the `__init__` that stores
them, with a signature scikit-learn reads (the detectors are declared so).
"""

from __future__ import annotations

import inspect
import math
import textwrap
from dataclasses import dataclass, replace
from typing import Callable, Mapping

import numpy as np

from seqae.errors import ConfigError


def is_int(value) -> bool:
    """A whole number, and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """A finite number, and not a bool."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


class Constraint:
    """What one parameter must be. Subclasses define `ok` and `expected` (words after "must be")."""

    def __init__(self, message=None):
        self.message = message  # None, a format string, or a function (name, value, params) -> str

    def ok(self, value, params: Mapping) -> bool:
        raise NotImplementedError

    def expected(self, params: Mapping) -> str:
        raise NotImplementedError

    def error(self, name: str, value, params: Mapping) -> str:
        if callable(self.message):
            return self.message(name, value, params)
        if self.message is not None:
            return self.message.format(**{**params, "name": name, "value": value})
        return f"{name} must be {self.expected(params)}, got {value!r}"


class Integer(Constraint):
    """A whole number from `low` (and up to `high`, or to the parameter named by `high`)."""

    def __init__(self, low: int = 1, high: int | str | None = None, message: str | None = None):
        super().__init__(message)
        self.low, self.high = low, high

    def _high(self, params):
        return params[self.high] if isinstance(self.high, str) else self.high

    def ok(self, value, params):
        high = self._high(params)
        return is_int(value) and value >= self.low and (high is None or value <= high)

    def expected(self, params):
        if self.high is not None:
            bound = f"{self.high}={self._high(params)}" if isinstance(self.high, str) else self.high
            return f"an integer from {self.low} to {bound}"
        return "a positive integer" if self.low == 1 else f"an integer >= {self.low}"


class Real(Constraint):
    """A finite number in the range from `low` to `high` (either end open or closed)."""

    def __init__(self, low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
                 message: str | None = None):
        super().__init__(message)
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def ok(self, value, params):
        if not is_real(value) or not (value > self.low if self.low_open else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def expected(self, params):
        if self.high is None and self.low_open and self.low == 0:
            return "positive"
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


class OneOf(Constraint):
    """One of a fixed set of values."""

    def __init__(self, options, message: str | None = None):
        super().__init__(message)
        self.options = tuple(options)

    def ok(self, value, params):
        return isinstance(value, str) and value in self.options

    def expected(self, params):
        return f"one of {', '.join(self.options)}"


class Boolean(Constraint):
    def ok(self, value, params):
        return isinstance(value, (bool, np.bool_))

    def expected(self, params):
        return "true or false"


class Satisfies(Constraint):
    """Whatever `predicate(value, params)` accepts, described by `expected`."""

    def __init__(self, predicate: Callable[[object, Mapping], bool], expected: str, message=None):
        super().__init__(message)
        self.predicate, self.description = predicate, expected

    def ok(self, value, params):
        return bool(self.predicate(value, params))

    def expected(self, params):
        return self.description


class NoneOr(Constraint):
    """None, or what `inner` accepts."""

    def __init__(self, inner: Constraint, expected: str | None = None, message: str | None = None):
        super().__init__(message)
        self.inner, self.description = inner, expected

    def ok(self, value, params):
        return value is None or self.inner.ok(value, params)

    def expected(self, params):
        return self.description or f"None or {self.inner.expected(params)}"


def check_params(params: Mapping, constraints: Mapping[str, Constraint]) -> None:
    """Raise a `ConfigError` for the first parameter (in `constraints`' order) that breaks its constraint."""
    for name, constraint in constraints.items():
        if name in params and not constraint.ok(params[name], params):
            raise ConfigError(constraint.error(name, params[name], params))


def collect_constraints(cls: type) -> dict[str, Constraint]:
    """`parameter_constraints` of `cls` and its bases, a subclass's entries replacing its bases'."""
    merged: dict[str, Constraint] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("parameter_constraints", {}))
    return merged


@dataclass(frozen=True)
class Param:
    """One parameter an estimator declares: its default, its constraint, and what it means."""

    default: object
    constraint: Constraint
    doc: str = ""


def declared_parameters(cls: type) -> dict[str, Param]:
    """Every parameter of `cls`, in declaration order: the `parameters` (name -> `Param`) of its
    bases and its own, a subclass's entry replacing its bases', with the defaults a class changes
    (`defaults`: name -> value) applied."""
    merged: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("parameters", {}))
        for name, value in klass.__dict__.get("defaults", {}).items():
            if name not in merged:
                raise TypeError(f"{klass.__name__}.defaults names {name!r}, which no base of it declares")
            merged[name] = replace(merged[name], default=value)
    return merged


def keyword_init(cls: type, parameters: Mapping[str, Param]) -> Callable:
    """An `__init__` for `cls` that only stores its keyword arguments (scikit-learn's estimator
    contract: `fit` checks them), each defaulting to its `Param.default`.

    Its explicit signature (keyword-only, the defaults shown) is what `inspect.signature`,
    `help()` and scikit-learn's `get_params`, `clone` and `repr` read; its docstring lists every
    parameter with its default and meaning."""
    defaults = {name: param.default for name, param in parameters.items()}

    def __init__(self, **params):
        unknown = [name for name in params if name not in defaults]
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
           for name, default in defaults.items()])
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    lines = ["Store the parameters as given; `fit` checks them.", "", "Args:"]
    for name, param in parameters.items():
        lines.append(textwrap.fill(f"{name} (default {param.default!r}): {param.doc}", width=96,
                                   initial_indent="    ", subsequent_indent="        ",
                                   break_on_hyphens=False))
    __init__.__doc__ = "\n".join(lines)
    return __init__

"""Checking a setting's value against the type annotation of its `Config` field, and
showing values in error messages."""

import difflib
import json
import numbers
import types
import typing

from jumok.errors import ConfigError

TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _unpack(annotation):
    """(the one non-None type of `annotation`, whether None is allowed)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
    else:
        members = (annotation,)
    base = [m for m in members if m is not type(None)]
    if len(base) != 1 or base[0] not in TYPE_NAMES:
        raise TypeError(f"config fields must be bool, int, float or str (optionally | None), not {annotation}")
    return base[0], len(base) < len(members)


def describe(value):
    """A value as a user should see it in an error message, with its kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{json.dumps(value, ensure_ascii=False)} (a string)"
    kind = ("an integer" if isinstance(value, numbers.Integral) else "a number" if isinstance(value, numbers.Real)
            else "a table" if isinstance(value, dict) else "an array" if isinstance(value, list)
            else f"a {type(value).__name__}")
    shown = repr(value)
    return f"{shown[:57] + '...' if len(shown) > 60 else shown} ({kind})"


def checked(value, annotation, label):
    """`value` if it fits `annotation` (an int made a float where a float is expected);
    otherwise a ConfigError naming `label`, the type and the value."""
    kind, optional = _unpack(annotation)
    if value is None and optional:
        return None
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{label}: expected {TYPE_NAMES[kind]}, got {describe(value)}")


def suggestion(name, candidates):
    """`` (did you mean 'x'?)`` for the closest of `candidates`, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

"""The checks every layer uses on values a user gives: flags, config files, API keywords,
model configurations and readers' options. Each failure is a one-line
:class:`~emotionkd.errors.ConfigError` that names the option, the rule and the value.

Only the standard library is imported (the command line uses these before any heavy module).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from typing import Any

from emotionkd.choices import DEVICES
from emotionkd.errors import ConfigError

#: the devices of :data:`~emotionkd.choices.DEVICES` as a pattern
_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]{1,3})?|mps")
#: the largest seed: numpy's and torch's generators take seeds in 0 … 2**32 - 1
SEED_MAX = 2**32 - 1


def number_rule(*, low: float | None = None, high: float | None = None, low_open: bool = False,
                high_open: bool = False, integer: bool = False) -> str:
    """The rule :func:`check_number` states in its message, e.g. "a finite number above 0 and
    at most 1"."""
    rule = "a whole number" if integer else "a finite number"
    if low is not None:
        rule += f" {'above' if low_open else 'of at least'} {_shown(low)}"
    if high is not None:
        rule += f"{' and' if low is not None else ''} {'below' if high_open else 'at most'} " \
                f"{_shown(high)}"
    return rule


def _shown(x: float) -> str:
    """A bound as people write it: whole numbers in full (4294967295, not 4.29497e+09)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def range_text(*, low: float | None = None, high: float | None = None, low_open: bool = False,
               high_open: bool = False, integer: bool = False, why: str = "") -> str:
    """The range of a :func:`check_number` rule for help texts, e.g. "Allowed: 1 ≤ x ≤ 99
    (subjects)." with its reason; "" for a rule without bounds. (No square brackets: help
    texts are read as markup.)"""
    if low is None and high is None:
        return ""
    left = f"{_shown(low)} {'<' if low_open else '≤'} " if low is not None else ""
    right = f" {'<' if high_open else '≤'} {_shown(high)}" if high is not None else ""
    return f"Allowed: {left}x{right}{why}."


def in_range(x: float, *, low: float | None = None, high: float | None = None,
             low_open: bool = False, high_open: bool = False, integer: bool = False) -> bool:
    """Whether ``x`` is finite, whole when ``integer``, and within the bounds (the test of
    :func:`check_number` and of the on-disk checks of :mod:`emotionkd.ondisk`)."""
    ok = math.isfinite(x) and (not integer or x.is_integer())
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x < high if high_open else x <= high
    return ok


def check_number(
    value: Any,
    option: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    why: str = "",
) -> float | int:
    """``value`` as a number, or a one-line ConfigError naming ``option``, the allowed range and
    (``why``) the reason. NaN, infinity, booleans and text are refused; ``low_open`` and
    ``high_open`` exclude the bounds; ``integer`` asks for a whole number (2.0 is 2)."""
    x = math.nan
    if not isinstance(value, (bool, str, bytes)):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            x = float(value)
    if not in_range(x, low=low, high=high, low_open=low_open, high_open=high_open,
                    integer=integer):
        rule = number_rule(low=low, high=high, low_open=low_open, high_open=high_open,
                           integer=integer)
        raise ConfigError(f"{option} must be {rule}{why}, got {value!r}")
    if integer and isinstance(value, int):
        return value  # exact, even beyond float precision
    return int(x) if integer else x


def check_device(value: Any, option: str = "--device") -> str:
    """``value`` if it names a device of :data:`~emotionkd.choices.DEVICES` (``cuda:N``: any
    GPU number); whether it is present is checked where torch is loaded."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise ConfigError(f"{option} must be one of {', '.join(DEVICES)} (N: a GPU number), "
                          f"not {value!r}")
    return value


def version_text(value: Any) -> str:
    """A format version read from a file as a message shows it: a whole number as it is,
    anything else with its type ("'1' (text, not a whole number)"), so that a text '1' does
    not read as "1 is not supported (expects 1)"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    kind = "text" if isinstance(value, (str, bytes)) else type(value).__name__
    return f"{value!r} ({kind}, not a whole number)"


def closest(value: Any, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` closest to a misspelt ``value`` (difflib, or the same letters in
    another case), or None when none is close."""
    import difflib

    allowed = [str(c) for c in choices]
    text = str(value)
    close = difflib.get_close_matches(text, allowed, n=1, cutoff=0.6)
    if not close:  # a different case, e.g. AROUSAL
        close = [c for c in allowed if c.lower() == text.lower()][:1]
    return close[0] if close and close[0] != text else None


def did_you_mean(value: Any, choices: Iterable[str]) -> str:
    """``"; did you mean arousal?"`` when one of ``choices`` is close to ``value``, else
    ``""``: the tail of a message that refuses a misspelt choice."""
    found = closest(value, choices)
    return f"; did you mean {found}?" if found else ""


def check_choice(value: Any, option: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else a ConfigError listing them (and the
    likely one)."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ConfigError(f"{option} must be one of {', '.join(allowed)}, not {value!r}"
                          f"{did_you_mean(value, allowed)}")
    return value


def check_bool(value: Any, option: str) -> bool:
    """``value`` if it is True or False (not 1, not "yes")."""
    if not isinstance(value, bool):
        raise ConfigError(f"{option} must be true or false, got {value!r}")
    return value


def check_text(value: Any, option: str) -> str:
    """``value`` if it is text."""
    if not isinstance(value, str):
        raise ConfigError(f"{option} must be text, got {value!r}")
    return value


def csv_items(value: str | Iterable[Any] | None) -> list[str]:
    """'a, b' (or a list) → ['a', 'b']; None → []."""
    if value is None:
        return []
    if not isinstance(value, str):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in value.split(",") if v.strip()]


def check_unique(value: str | Iterable[Any] | None, option: str) -> list[str]:
    """The comma-separated entries of ``value``, none twice (each would be trained again)."""
    items = csv_items(value)
    twice = sorted({v for v in items if items.count(v) > 1})
    if twice:
        raise ConfigError(f"{option}: {', '.join(twice)} listed twice in {value!r}; give each "
                          "once (it would be trained twice)")
    return items


def check_items(value: str | Iterable[Any] | None, option: str, allowed: Iterable[str]
                ) -> list[str]:
    """The comma-separated entries of ``value``, each one of ``allowed`` and none twice."""
    known = tuple(allowed)
    items = check_unique(value, option)
    bad = [v for v in items if v not in known]
    if bad:
        raise ConfigError(f"{option}: unknown {', '.join(bad)}; choose from {', '.join(known)}"
                          f"{did_you_mean(bad[0], known)}")
    return items


def parse_subjects(value: str | Iterable[int] | None, option: str) -> list[int] | None:
    """'1,2,5-8' → [1, 2, 5, 6, 7, 8]; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        return [int(v) for v in value]
    out: list[int] = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ConfigError(f"{option}: cannot read {value!r}; use e.g. 1,2,5-8") from None
    if not out:
        raise ConfigError(f"{option}: no subjects in {value!r}")
    return out


def parse_integers(value: str | Iterable[Any], option: str, example: str = "0,1,2",
                   rule: dict[str, Any] | None = None) -> list[int]:
    """'0, 1, 2' (or a list) → [0, 1, 2]; every entry a whole number, none twice, and each
    within ``rule`` (the keywords of :func:`check_number`) when given."""
    items = csv_items(value)
    try:
        out = [int(v) for v in items]
    except ValueError:
        raise ConfigError(f"{option}: cannot read {value!r}; give integers, e.g. "
                          f"{example}") from None
    if not out:
        raise ConfigError(f"{option}: give one or more integers, e.g. {example}")
    if len(set(out)) != len(out):
        raise ConfigError(f"{option}: {out} lists a value twice")
    for v in out:
        if rule:
            check_number(v, f"{option}: each entry", integer=True, **rule)
    return out


#: the rule of every seed
SEED = {"low": 0, "high": SEED_MAX,
        "why": " (the seed range of numpy's and torch's generators)"}
#: rules of :func:`check_fields`
WHOLE = {"integer": True, "low": 1}
COUNT = {"integer": True, "low": 0}
SHARE = {"low": 0, "high": 1, "high_open": True}
POSITIVE = {"low": 0, "low_open": True}
FLAG = {"kind": bool}


def bounded(high: float, why: str, low: float = 1) -> dict[str, Any]:
    """The rule of a whole number from ``low`` to ``high``; ``why`` says where the bound
    comes from (a typo such as ``d_model = 1000000000`` is refused before any allocation)."""
    return {"integer": True, "low": low, "high": high, "why": f" ({why})"}


def check_fields(obj: Any, owner: str, rules: dict[str, dict[str, Any]]) -> None:
    """Check and convert attributes of ``obj`` in place, each by its rule: ``{"choices": …}``
    (:func:`check_choice`), ``{"kind": bool}`` (:func:`check_bool`), otherwise the keywords of
    :func:`check_number`. Errors name ``owner: attribute`` (e.g. ``model: d_model``)."""
    for name, rule in rules.items():
        label, value = f"{owner}: {name}", getattr(obj, name)
        if "choices" in rule:
            setattr(obj, name, check_choice(value, label, rule["choices"]))
        elif rule.get("kind") is bool:
            setattr(obj, name, check_bool(value, label))
        else:
            setattr(obj, name, check_number(value, label, **rule))

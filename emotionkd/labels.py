"""Rating scales and binary labels: the default threshold of a rating, and the check that
refuses a target whose labels would all be one class.

A store records each rating's scale (``rating_scales``: [min, max], or None for a category
such as an emotion keyword); stores written without it are read as 1-9. The default
threshold is the scale's midpoint (5 on 1-9, 3 on 1-5, 0.5 on 0/1), so a dataset rated on
another scale is not silently binarised against DEAP's 5.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from emotionkd.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.store import Store


def scale_midpoint(scale: Sequence[float]) -> float:
    """The middle of a rating scale ``(min, max)``."""
    lo, hi = (float(x) for x in scale)
    return (lo + hi) / 2.0


def rating_scale(store: Store, target: str) -> list[float] | None:
    """The [min, max] scale of rating ``target`` in ``store`` (None for a category)."""
    return store.rating_scales[store.rating_index(target)]


def default_threshold(store: Store, target: str) -> float:
    """The default binarisation threshold of ``target``: its scale's midpoint.

    A category (scale None, e.g. HCI's emotion keyword) has no midpoint: a ConfigError asks
    for ``--threshold``."""
    scale = rating_scale(store, target)
    if scale is None:
        raise ConfigError(f"{store.path}: rating '{target}' is a category, not a scale; pass "
                          "--threshold to say which values count as high")
    return scale_midpoint(scale)


def check_two_classes(labels: np.ndarray, *, target: str, threshold: float, tie: str = "low",
                      ratings: np.ndarray | None = None, scale: Sequence[float] | None = None,
                      what: str = "windows", source: str = "") -> None:
    """Refuse binary labels that are all one class (nothing to learn, and every accuracy is
    the majority rate), naming the class counts and the ``--threshold`` that would split them.

    ``ratings`` (the raw ratings behind the labels) and ``scale`` make the message say where
    the ratings lie and what threshold to try."""
    y = np.asarray(labels).reshape(-1)
    n = int(y.size)
    high = int(np.count_nonzero(y == 1))
    if n == 0 or 0 < high < n:
        return
    rule = f"rating {'>=' if tie == 'high' else '>'} {threshold:g}"
    where = f"{source}: " if source else ""
    msg = (f"{where}target '{target}' gives one class with --threshold {threshold:g} "
           f"(high = {rule}): {high} high, {n - high} low {what}")
    hint = ""
    if ratings is not None and np.size(ratings):
        r = np.asarray(ratings, dtype=np.float64)
        lo, hi = float(np.min(r)), float(np.max(r))
        msg += f"; the ratings run from {lo:g} to {hi:g}"
        if scale is not None:
            msg += f" on a {scale[0]:g}-{scale[1]:g} scale"
        if lo < hi:
            # the median splits the ratings into two classes under either tie rule unless
            # it is the extreme value
            med = float(np.median(r))
            cut = med if lo < med < hi else (lo + hi) / 2.0
            hint = f"--threshold {cut:g}"
    if not hint and scale is not None and scale_midpoint(scale) != threshold:
        hint = f"--threshold {scale_midpoint(scale):g} (the scale's midpoint)"
    fix = f"pass {hint}" if hint else "pass a --threshold inside the ratings' range"
    raise ConfigError(f"{msg}; {fix}, or choose another --target")


_SCALE = re.compile(r"^\s*(-?\d+(?:\.\d*)?)\s*(?:-|\.\.|:)\s*(-?\d+(?:\.\d*)?)\s*$")


def parse_rating_scales(text: str, option: str = "--ratings"
                        ) -> dict[str, tuple[float, float] | None]:
    """``"valence=1-9,arousal=1-5,emotion=category"`` → ``{"valence": (1, 9), …}`` (a
    category's scale is None); a one-line ConfigError names the item it cannot read."""
    out: dict[str, tuple[float, float] | None] = {}
    for item in (x.strip() for x in str(text).split(",")):
        if not item:
            continue
        name, sep, scale = item.partition("=")
        name = name.strip()
        m = _SCALE.match(scale)
        if not sep or not name or not (m or scale.strip().lower() == "category"):
            raise ConfigError(f"{option}: cannot read {item!r}; give NAME=MIN-MAX or "
                              "NAME=category, e.g. valence=1-9,arousal=1-9")
        if name in out:
            raise ConfigError(f"{option}: rating '{name}' is given twice")
        if m:
            lo, hi = float(m.group(1)), float(m.group(2))
            if not lo < hi:
                raise ConfigError(f"{option}: the scale of '{name}' ({lo:g} to {hi:g}) needs "
                                  "MIN < MAX")
            out[name] = (lo, hi)
        else:
            out[name] = None
    if not out:
        raise ConfigError(f"{option}: give the ratings to store, e.g. valence=1-9,arousal=1-9")
    return out


def map_threshold(threshold: float, scale: Sequence[float] | None,
                  to_scale: Sequence[float] | None) -> float:
    """``threshold`` on ``scale`` moved to the same relative place on ``to_scale`` (5 on 1-9
    is 3 on 1-5), so a model's classes mean the same on a dataset rated on another scale;
    unchanged when either scale is unknown or they are equal."""
    if scale is None or to_scale is None:
        return float(threshold)
    lo, hi = (float(x) for x in scale)
    to_lo, to_hi = (float(x) for x in to_scale)
    if (lo, hi) == (to_lo, to_hi):
        return float(threshold)
    return to_lo + (float(threshold) - lo) * (to_hi - to_lo) / (hi - lo)

"""Configuration files (TOML) and the precedence rule: defaults < ``--config`` file < flags.

A config file holds the same keys as the command's long options (dashes or underscores), at
the top level or grouped in tables, e.g.::

    target = "arousal"
    [data]
    window = 4.0
    eeg_channels = "tsception28"
    [train]
    epochs = 60
    lr = 1e-4
    [model]
    d_model = 64

Table names are for readability; keys are matched by name, and an unknown key is an error
that lists the valid ones. Tables named after a command — ``[train-teacher]``, ``[distill]``,
``[evaluate]`` — apply to that command only, so one file can serve the whole pipeline. The
fully resolved configuration is stored in checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emotionkd.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: model-architecture keys a config may set under [model] (passed to the model builder)
MODEL_KEYS = ("d_model", "n_heads", "head_dim", "n_blocks", "ff_dim", "dropout", "head_dropout",
              "classifier_dim", "classifier_dropout", "score_pool", "faithful_imf_bug", "init",
              "head_l2")

#: size presets: paper = the reference architecture
SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": {"d_model": 32, "n_heads": 4, "head_dim": 16, "n_blocks": 3, "ff_dim": 32,
              "classifier_dim": 64},
    "tiny": {"d_model": 16, "n_heads": 2, "head_dim": 8, "n_blocks": 2, "ff_dim": 16,
             "classifier_dim": 32},
}


COMMAND_TABLES = ("train-teacher", "distill", "evaluate")


def load_toml(path: str | os.PathLike, command: str | None = None) -> dict[str, Any]:
    """Read a TOML file into a flat dict (tables flattened; command tables other than
    ``command`` skipped); clear errors naming the file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file")
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: invalid TOML ({exc})") from None
    flat: dict[str, Any] = {}

    def walk(d: Mapping[str, Any], where: str) -> None:
        for k, v in d.items():
            key = k.replace("-", "_")
            if isinstance(v, Mapping):
                if not where and k.replace("_", "-") in COMMAND_TABLES and \
                        k.replace("_", "-") != command:
                    continue
                walk(v, f"{where}{k}.")
                continue
            if key in flat:
                raise ConfigError(f"{p}: key '{key}' is set twice ({where}{k})")
            flat[key] = v

    walk(doc, "")
    return flat


def resolve(
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    config: str | os.PathLike | None = None,
    extra_keys: Iterable[str] = (),
    command: str | None = None,
) -> dict[str, Any]:
    """Merge defaults, a config file and explicitly given flags (``None`` = not given).

    ``extra_keys`` are keys a config may set that have no flag (e.g. model knobs); they are
    returned as well when present.
    """
    out = dict(defaults)
    if config is not None:
        valid = set(defaults) | set(extra_keys)
        file_values = load_toml(config, command)
        unknown = sorted(set(file_values) - valid)
        if unknown:
            raise ConfigError(
                f"{config}: unknown key(s) {', '.join(unknown)}; valid keys: "
                f"{', '.join(sorted(valid))}"
            )
        out.update(file_values)
    out.update({k: v for k, v in given.items() if v is not None})
    return out


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


def model_overrides(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The model-architecture part of a resolved config: size preset, then explicit keys."""
    size = cfg.get("size") or "paper"
    if size not in SIZE_PRESETS:
        raise ConfigError(f"--size must be one of {', '.join(SIZE_PRESETS)}, not {size!r}")
    over = dict(SIZE_PRESETS[size])
    over.update({k: cfg[k] for k in MODEL_KEYS if cfg.get(k) is not None})
    return over


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
    ``high_open`` exclude the bounds. Used for flags and config-file values alike."""
    rule = "a whole number" if integer else "a finite number"
    if low is not None:
        rule += f" {'above' if low_open else 'of at least'} {low:g}"
    if high is not None:
        rule += f"{' and' if low is not None else ''} {'below' if high_open else 'at most'} " \
                f"{high:g}"
    x = math.nan
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            x = float(value)
    ok = math.isfinite(x) and (not integer or x.is_integer())
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x < high if high_open else x <= high
    if not ok:
        raise ConfigError(f"{option} must be {rule}{why}, got {value!r}")
    if integer and isinstance(value, int):
        return value  # exact, even beyond float precision
    return int(x) if integer else x

"""The whole configuration of an experiment, how files and flags resolve onto it, and the
one loader of the resolved tables that checkpoints and run folders store.

Precedence: defaults < ``--config`` file < flags (or API keywords). Every key of a file is
checked whatever the command; an unknown key or table is an error that names the closest
valid key. :meth:`ExperimentConfig.resolved` gives the tables a command applies with every
value filled in (``--print-config`` prints them as TOML, checkpoints and ``run.json`` store
them), and :meth:`ExperimentConfig.from_tables` reads them back to the same configuration.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from emotionkd.config.tables import (
    TABLES,
    DataConfig,
    DistillConfig,
    EvaluationConfig,
    FeedbackConfig,
    ModelConfig,
    TrainConfig,
    homes,
    settings,
)
from emotionkd.errors import ConfigError
from emotionkd.models import registry as _registry
from emotionkd.settings import check_setting, flag_name, meta

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: tables each command applies (the others are checked, not applied)
COMMAND_TABLES: dict[str, tuple[str, ...]] = {
    "train-teacher": ("data", "model", "train"),
    "distill": ("train", "distill", "feedback"),
    "evaluate": ("data", "model", "train", "distill", "feedback", "evaluate"),
}
#: tables a checkpoint of each command stores: a student records the data and model tables
#: of its teacher beside its own
CHECKPOINT_TABLES: dict[str, tuple[str, ...]] = {
    "train-teacher": ("data", "model", "train"),
    "distill": ("data", "model", "train", "distill", "feedback"),
    "evaluate": ("data", "model", "train", "distill", "feedback", "evaluate"),
}


@dataclass
class ExperimentConfig:
    """One experiment: every table, resolved."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    evaluate: EvaluationConfig = field(default_factory=EvaluationConfig)

    def resolved(self, command: str = "evaluate", tables: Iterable[str] | None = None
                 ) -> dict[str, dict[str, Any]]:
        """The tables ``command`` applies (or ``tables``), with every value resolved (method
        presets, size preset and architecture defaults filled in; settings that are not set
        left out) — what ``--print-config`` prints and checkpoints store."""
        out: dict[str, dict[str, Any]] = {}
        for table in tables or COMMAND_TABLES[command]:
            obj = getattr(self, table)
            values = {f.name: getattr(obj, f.name) for f in fields(obj) if f.name in
                      settings(table)}
            if table == "model":
                values.update(self.model.resolved_architecture())
            if table == "distill":
                values.update(self.distill.params())
                values.update(self.distill.options)
                values["feedback"] = self.distill.feedback_on(command)
            out[table] = {k: v for k, v in values.items() if v is not None}
        return out

    def to_toml(self, command: str = "evaluate") -> str:
        """The resolved configuration of ``command`` as TOML (``--config`` reads it back to
        the same values); settings that are not set are listed as comments."""
        lines = [f"# emotionkd {command}: resolved configuration (defaults < --config file < "
                 "flags)"]
        for table, values in self.resolved(command).items():
            lines += ["", f"[{table}]"]
            lines += [f"{k} = {toml_value(v)}" for k, v in values.items()
                      if not isinstance(v, dict)]
            lines += [f"# {k}: not set ({meta(f, 'shown')})"
                      for k, f in settings(table).items()
                      if k not in values and meta(f, "shown") is not None]
            for key, sub in values.items():  # a sub-table ([model.study])
                if isinstance(sub, dict):
                    lines += ["", f"[{table}.{key}]"]
                    lines += [f"{k} = {toml_value(v)}" for k, v in sub.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_tables(cls, tables: Mapping[str, Mapping[str, Any]], source: str
                    ) -> ExperimentConfig:
        """The configuration of resolved tables (a checkpoint's ``config``, a run's
        ``run.json``); every value is checked as a file's would be, errors name ``source``.
        Tables that are absent take their defaults."""
        values: dict[str, tuple[Any, str]] = {}
        arch = set(_registry.architecture_defaults())
        for table, entries in tables.items():
            if table not in TABLES or not isinstance(entries, Mapping):
                raise ConfigError(f"{source}: unknown configuration table {table!r}; the "
                                  "file was written by another version of emotionkd")
            for key, value in entries.items():
                if _home(key, arch) != table:
                    raise ConfigError(f"{source}: [{table}] {key} is not a setting of "
                                      "emotionkd; the file was written by another version")
                values[key] = (value, f"{source}: {key}")
        return build(values, source)

    def for_data(self, n_windows: int) -> ExperimentConfig:
        """This configuration for training on ``n_windows`` windows: ``size = "auto"``
        resolved, and the learning rate and batch size that are not set taken from the
        size's recipe (docs/method.md, "Defaults for the amount of data")."""
        model = self.model.for_windows(n_windows)
        return replace(self, model=model, train=self.train.for_size(model.size))

    def with_tables(self, **tables: Any) -> ExperimentConfig:
        """A copy with some tables replaced (``with_tables(data=…)``)."""
        return replace(self, **tables)


def toml_value(v: Any) -> str:
    """A TOML literal for the value types of a configuration (text, booleans, integers,
    floats, and lists of them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) to TOML")


# ---------------------------------------------------------------------------------------------
# reading files and resolving


def _home(key: str, arch: set[str]) -> str | None:
    """The table a key belongs to (``model`` for architecture keys), or None."""
    return homes().get(key, "model" if key in arch else None)


def read_config_file(path: str | os.PathLike, notes: list[str] | None = None
                     ) -> dict[str, tuple[Any, str]]:
    """The settings of a TOML file as ``{key: (value, label)}`` (``label`` names file and key
    for error messages), every key checked: an unknown key or table is an error that lists the
    valid ones; a key in another table than its own is read with a note in ``notes``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: invalid TOML ({exc})") from None
    arch_defaults = _registry.architecture_defaults()
    arch = set(arch_defaults)
    out: dict[str, tuple[Any, str]] = {}

    def take(key: str, value: Any, table: str | None) -> None:
        where = f"{p}: " + (f"[{table}] " if table else "")
        key = key.replace("-", "_")
        home = _home(key, arch)
        if home is None:
            valid = sorted({*homes(), *arch})
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{where}unknown key '{key}'{hint}; valid keys: "
                              f"{', '.join(valid)}")
        if table is not None and table != home and notes is not None:
            notes.append(f"{where}{key} belongs in [{home}]; move it there")
        if key in out:
            raise ConfigError(f"{p}: key '{key}' is set twice")
        out[key] = (value, f"{p}: {key}")

    for name, value in doc.items():
        if not isinstance(value, Mapping):
            take(name, value, None)
            continue
        if name not in TABLES:
            raise ConfigError(f"{p}: unknown table [{name}]; tables: "
                              f"{', '.join(f'[{t}]' for t in TABLES)}")
        for key, v in value.items():
            if isinstance(v, Mapping) and not (name == "model" and
                                               isinstance(arch_defaults.get(key), dict)):
                raise ConfigError(f"{p}: [{name}.{key}] is not a table emotionkd reads; "
                                  f"give {key}'s keys in [{name}]")
            take(key, dict(v) if isinstance(v, Mapping) else v, name)
    return out


def build(values: Mapping[str, tuple[Any, str]], source: str | os.PathLike | None = None
          ) -> ExperimentConfig:
    """The configuration of ``{key: (value, label)}`` (the others take their defaults). A
    rule between settings that fails is named after ``source`` when it set them."""
    parts: dict[str, Any] = {}
    for table, cls in TABLES.items():
        spec = settings(table)
        own = {f.name for f in fields(cls)}
        kwargs = {k: check_setting(spec[k], v, label)
                  for k, (v, label) in values.items() if k in spec and k in own}
        if table == "model":
            kwargs["architecture"] = {k: v for k, (v, _) in values.items() if k not in homes()}
        if table == "distill":
            kwargs["options"] = {k: check_setting(spec[k], v, label)
                                 for k, (v, label) in values.items() if k in spec and k not in own}
        try:
            parts[table] = cls(**kwargs)
        except ConfigError as exc:  # a rule between settings: name the file if it set them
            from_file = source is not None and any(
                label.startswith(f"{source}: ") for k, (_, label) in values.items()
                if homes().get(k, "model") == table)
            raise ConfigError(f"{source}: {exc}" if from_file else str(exc)) from None
    return ExperimentConfig(**parts)


def resolve_config(
    command: str,
    given: Mapping[str, Any] | None = None,
    config: str | os.PathLike | None = None,
    notes: list[str] | None = None,
) -> ExperimentConfig:
    """The configuration of ``command``: defaults, then the file ``config``, then ``given``
    (flags or API keywords; ``None`` values are "not given").

    ``given`` may hold only settings of the tables the command applies; a key of a file in
    another table than its own adds a note to ``notes``.
    """
    if command not in COMMAND_TABLES:
        raise ConfigError(f"unknown command {command!r}; known: {', '.join(COMMAND_TABLES)}")
    tables = COMMAND_TABLES[command]
    values = read_config_file(config, notes) if config is not None else {}
    arch = set(_registry.architecture_defaults()) if "model" in tables else set()
    for key, value in (given or {}).items():
        if value is None:
            continue
        home = _home(key, arch)
        if home not in tables:
            known = sorted({k for k, t in homes().items() if t in tables} | arch)
            why = f" ({command} does not apply [{home}])" if home else ""
            raise ConfigError(f"unknown option {key!r}{why}; known: {', '.join(known)}")
        option = flag_name(settings(home)[key]) if key in homes() else key
        values[key] = (value, option)
    return build(values, config)

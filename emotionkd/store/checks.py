"""The checks of a store's attributes and datasets as they are read (:mod:`emotionkd.ondisk`
form: ``FILE: FIELD is …; preprocess the raw data again``) and the plausibility pass over
its skin conductance.

Skin conductance lies within about 0.05–100 µS; a stored value beyond
:data:`MAX_PLAUSIBLE_US` in magnitude (a baseline-subtracted store holds differences, which
are smaller still) is bit rot or a sensor spike, never physiology, and is refused rather
than trained on. HDF5's fletcher32 checksums on the datasets of new stores catch damage
h5py reads (``OSError`` on read, turned into one line by the reader).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.ondisk import Source
from emotionkd.signals import MAX_PLAUSIBLE_US, MIN_PLAUSIBLE_US
from emotionkd.store.layout import (
    FORMAT,
    FORMAT_VERSION,
    LEGACY_RATING_SCALE,
    check_rating_scales,
)
from emotionkd.version import __version__

FIX = "preprocess the raw data again"
#: the integer trial-table datasets and the float ones
INT_TABLE = ("subject", "trial", "start", "stop", "onset")


def source(p: Path) -> Source:
    return Source(p, FIX)


def read_attrs(p: Path, f: h5py.File) -> dict[str, Any]:
    """Every root attribute as a plain value; a damaged attribute message (h5py raises
    RuntimeError or OSError while decoding it) is one line."""
    out: dict[str, Any] = {}
    try:
        for k in f.attrs:
            out[k] = _plain(f.attrs[k])
    except (RuntimeError, OSError, KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{p}: the attributes are damaged ({_first(exc)}); the file is "
                              f"corrupt: {FIX}") from None
    return out


def _first(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return v
    if isinstance(v, np.generic):
        return v.item()
    return v


def check_format(p: Path, attrs: dict[str, Any]) -> None:
    """Refuse an HDF5 file that is not an emotionkd store of this format version."""
    fmt = attrs.get("format")
    if fmt != FORMAT:
        raise DataFormatError(f"{p}: is HDF5 but not an emotionkd store (format={fmt!r}); "
                              "create one with 'emotionkd preprocess'")
    source(p).version(attrs.get("format_version"), "format_version", FORMAT_VERSION,
                      f"emotionkd {__version__}, which reads store version {FORMAT_VERSION}")


def metadata(p: Path, attrs: dict[str, Any]) -> dict[str, Any]:
    """The store's metadata, each attribute checked for its type and range."""
    src = source(p)
    for key in ("source", "sampling_rate", "eeg_channels", "rating_names"):
        if key not in attrs:
            src.fail(key, "missing")
    names = src.texts(src.json(attrs["rating_names"], "rating_names"), "rating_names",
                      empty=False)
    if not names:
        src.fail("rating_names", "an empty list")
    scales = ([list(LEGACY_RATING_SCALE)] * len(names) if "rating_scales" not in attrs
              else src.json(attrs["rating_scales"], "rating_scales"))
    if not isinstance(scales, list):
        src.fail("rating_scales", f"{scales!r}, not a list of [min, max] (or null)")
    try:
        scales = check_rating_scales(scales, names)
    except ConfigError as exc:
        src.fail("rating_scales", f"wrong ({exc})")
    pre = src.mapping(src.json(attrs.get("preprocessing", "{}"), "preprocessing"),
                      "preprocessing")
    return {
        "source": src.text(attrs["source"], "source"),
        "sampling_rate": src.number(attrs["sampling_rate"], "sampling_rate", low=0,
                                    low_open=True, high=1e6),
        "eeg_channels": src.texts(src.json(attrs["eeg_channels"], "eeg_channels"),
                                  "eeg_channels", empty=False),
        "rating_names": names, "rating_scales": scales, "preprocessing": pre,
        "gsr_unit": src.text(attrs.get("gsr_unit", "uS"), "gsr_unit"),
        "created_with": src.text(attrs.get("created_with", ""), "created_with"),
    }


def dataset(p: Path, f: h5py.File, name: str, ndim: int, kind: str) -> h5py.Dataset:
    """Dataset ``name``: a dataset (not a group) of ``ndim`` axes and numeric ``kind``
    ("float" or "int")."""
    src = source(p)
    obj = f.get(name)
    if obj is None:
        src.fail(f"/{name}", "missing")
    if not isinstance(obj, h5py.Dataset):
        src.fail(f"/{name}", f"a {type(obj).__name__.lower()}, not a dataset")
    dt = obj.dtype
    ok = np.issubdtype(dt, np.integer) if kind == "int" else \
        np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer)
    if not ok or dt.kind == "b":
        want = "integers" if kind == "int" else "numbers"
        src.fail(f"/{name}", f"of type {dt}, not {want}")
    if obj.ndim != ndim:
        src.fail(f"/{name}", f"of shape {obj.shape}, not {ndim}-dimensional")
    return obj


def trial_table(p: Path, f: h5py.File) -> dict[str, np.ndarray]:
    """The trial table, each column of its type (``onset`` defaults to ``start``)."""
    out = {name: dataset(p, f, f"trials/{name}", 1, "int")[()] for name in INT_TABLE
           if name != "onset" or "trials/onset" in f}
    out.setdefault("onset", out["start"])
    out["ratings"] = dataset(p, f, "trials/ratings", 2, "float")[()]
    if "trials/latent" in f:
        lat = dataset(p, f, "trials/latent", 2, "float")
        src = source(p)
        names = src.json(_plain(lat.attrs.get("names", '["valence", "arousal"]')),
                         "/trials/latent names")
        out["latent"], out["latent_names"] = lat[()], src.texts(names, "/trials/latent names")
    return out


def check_plausible(p: Path, gsr: np.ndarray, where: Any) -> None:
    """Refuse loaded GSR (µS) beyond :data:`MAX_PLAUSIBLE_US` in magnitude, naming the
    first such sample; ``where(column)`` says which subject and trial it belongs to."""
    step = 1 << 24
    for a in range(0, gsr.shape[1], step):
        bad = np.abs(gsr[0, a:a + step]) > MAX_PLAUSIBLE_US
        if bad.any():
            i = a + int(np.argmax(bad))
            count = int(np.count_nonzero(np.abs(gsr[0]) > MAX_PLAUSIBLE_US))
            raise DataFormatError(
                f"{p}: GSR is {float(gsr[0, i]):.4g} µS in {where(i)} ({count} sample(s) "
                f"beyond ±{MAX_PLAUSIBLE_US:g} µS; skin conductance lies within "
                f"{MIN_PLAUSIBLE_US:g}-{MAX_PLAUSIBLE_US:g} µS): the store is corrupt or the "
                f"recording has spikes; {FIX}")

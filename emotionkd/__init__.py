"""emotionkd: cross-modal knowledge distillation for emotion recognition (EEG+GSR -> GSR).

The package root stays import-light (no torch, numpy or h5py) so that the command-line
interface starts fast. The Python API (:mod:`emotionkd.api`) is available from here and is
loaded on first use: ``emotionkd.read_recording``, ``emotionkd.load_predictor``,
``emotionkd.from_mne_raw``, ``emotionkd.train_teacher``, ``emotionkd.distill_student``,
``emotionkd.evaluate``, ``emotionkd.write_store`` and ``emotionkd.write_store_from_raw`` (a store
from your own numpy arrays or MNE Raw objects) and the classes ``Predictor``, ``Recording``,
``PredictionResult``.
"""

from __future__ import annotations

from typing import Any

from emotionkd.version import __version__

#: names served lazily from emotionkd.api
_API = ("read_recording", "from_mne_raw", "load_predictor", "Predictor", "Recording",
        "PredictionResult", "train_teacher", "distill_student", "evaluate", "write_store",
        "write_store_from_raw")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from emotionkd import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'emotionkd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))

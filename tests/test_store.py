"""The store (emotionkd.store) as a whole: rating scales written, checked and read, stores
written without them read as 1-9, GSR-only stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emotionkd.errors import ConfigError
from emotionkd.store import StoreWriter, open_store


def _one_trial(path: Path, **kw: Any) -> None:
    with StoreWriter(path, source="own", sampling_rate=4, eeg_channels=[], **kw) as w:
        w.add_trial(subject=1, trial=1, eeg=np.zeros((0, 8)), gsr=np.ones(8), ratings=[3])


def test_rating_scales_are_stored_checked_and_read(tmp_path, deap_store):
    assert open_store(deap_store).rating_scales == [[1.0, 9.0]] * 4  # DEAP's scale
    legacy = tmp_path / "legacy.h5"
    _one_trial(legacy, rating_names=["arousal"])
    st = open_store(legacy)
    assert st.rating_scales == [[1.0, 9.0]]  # no attribute: 1-9
    eeg, gsr, _ = st.load_signals([0])  # a GSR-only store: no EEG at all
    assert eeg is None and gsr.shape == (1, 8)
    with pytest.raises(ConfigError, match="scale of 'a'"):
        StoreWriter(tmp_path / "y.h5", source="own", sampling_rate=4, eeg_channels=[],
                    rating_names=["a"], rating_scales=[(5, 1)])
    with pytest.raises(ConfigError, match="2 given for 1 ratings"):
        StoreWriter(tmp_path / "y.h5", source="own", sampling_rate=4, eeg_channels=[],
                    rating_names=["a"], rating_scales=[(1, 5), (1, 9)])
    cat = tmp_path / "cat.h5"
    _one_trial(cat, rating_names=["emotion"], rating_scales=[None])
    assert open_store(cat).rating_scales == [None]


def test_stores_record_whether_they_are_synthetic(tmp_path, deap_store):
    """Synthetic data say so (the ``synthetic`` attribute; ``source`` stays the layout)."""
    import h5py

    st = open_store(deap_store)  # preprocessed from `emotionkd synth deap`
    assert st.source == "deap" and st.synthetic and st.summary()["synthetic"] is True
    _one_trial(tmp_path / "own.h5", rating_names=["arousal"])
    assert open_store(tmp_path / "own.h5").synthetic is False
    _one_trial(tmp_path / "marked.h5", rating_names=["arousal"], synthetic=True)
    assert open_store(tmp_path / "marked.h5").synthetic is True
    old = tmp_path / "old.h5"  # written before the attribute: the latent table tells
    old.write_bytes(Path(deap_store).read_bytes())
    with h5py.File(old, "a") as f:
        del f.attrs["synthetic"]
    assert open_store(old).synthetic is True

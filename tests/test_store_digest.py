"""The content digest of a store (emotionkd.store.digest): stable under the block size and the
making, changed by one sample, readable for GSR-only stores, a one-line error for a broken
file."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

import emotionkd.store.digest as digest
from emotionkd.errors import DataFormatError
from emotionkd.store import StoreWriter
from emotionkd.store.digest import content_digest


def test_digest_ignores_the_block_size_and_the_making(deap_store, tmp_path, monkeypatch):
    whole = content_digest(deap_store)
    with h5py.File(deap_store, "r") as f:
        n_bytes = sum(f[k].size * f[k].dtype.itemsize for k in ("eeg", "gsr"))
        n_bytes += sum(f["trials"][k].size * f["trials"][k].dtype.itemsize for k in f["trials"])
    assert whole.bytes == n_bytes and len(whole.value) == 64
    monkeypatch.setattr(digest, "_BLOCK", 1000)  # not a multiple of anything in the file
    assert content_digest(deap_store) == whole
    monkeypatch.undo()
    copy = tmp_path / "copy.h5"
    shutil.copy(deap_store, copy)
    with h5py.File(copy, "r+") as f:  # another emotionkd, another raw folder: same data
        f.attrs["created_with"] = "emotionkd 9.9"
        f.attrs["preprocessing"] = '{"raw": "/elsewhere"}'
    assert content_digest(copy) == whole


def test_one_changed_sample_or_rating_changes_the_digest(deap_store, tmp_path):
    whole = content_digest(deap_store).value
    for name, where in (("eeg", (3, 100)), ("gsr", (0, 5)), ("trials/ratings", (1, 1))):
        copy = tmp_path / f"{name.replace('/', '-')}.h5"
        shutil.copy(deap_store, copy)
        with h5py.File(copy, "r+") as f:
            f[name][where] = f[name][where] + np.float32(0.5)
        assert content_digest(copy).value != whole, name
    copy = tmp_path / "rate.h5"
    shutil.copy(deap_store, copy)
    with h5py.File(copy, "r+") as f:  # the same numbers meaning something else
        f.attrs["sampling_rate"] = 64.0
    assert content_digest(copy).value != whole


def test_gsr_only_store_and_a_broken_file(tmp_path):
    path = tmp_path / "gsr.h5"
    with StoreWriter(path, source="own", sampling_rate=4, eeg_channels=[],
                     rating_names=["arousal"]) as w:
        w.add_trial(subject=1, trial=1, eeg=np.zeros((0, 8)), gsr=np.arange(8.0), ratings=[3])
    d = content_digest(path)
    assert d.bytes == 8 * 4 + 2 * 4 + 3 * 8 + 4 and d.short == d.value[:12]
    broken = tmp_path / "broken.h5"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFormatError, match="broken.h5: cannot read the store to compute"):
        content_digest(broken)

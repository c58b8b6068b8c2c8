"""Fault injection into stores (issue 27): damaged or foreign attributes and datasets, bit rot
caught by the fletcher32 checksums or the plausibility pass. Every case ends in one line
naming the file and the field, exit status 1, the store unchanged and nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import file_digest, leftovers, one_line_error, run_cli

TRAIN = ["--size", "tiny", "--epochs", "1", "--batch-size", "16", "--window", "2", "--step",
         "2"]


@pytest.fixture()
def store(deap_store, tmp_path) -> Path:
    p = tmp_path / "s.h5"
    shutil.copyfile(deap_store, p)
    return p


def _set_attr(p: Path, key: str, value) -> None:
    with h5py.File(p, "r+") as f:
        f.attrs[key] = value


def _info_fails(p: Path, capsys, *fragments: str) -> str:
    before = file_digest(p)
    code, cap = run_cli(["info", str(p)], capsys)
    line = one_line_error(code, cap.err, str(p), *fragments)
    assert file_digest(p) == before and leftovers(p.parent) == []
    return line


@pytest.mark.parametrize("value, shown", [("1.0", "'1.0' (text)"), ("one", "'one' (text)"),
                                          ("1", "'1' (text)"), (np.array([1, 1]), "an array"),
                                          (2, "format_version is 2, not read by")])
def test_format_version_of_another_type(store, value, shown, capsys):
    _set_attr(store, "format_version", value)
    _info_fails(store, capsys, "format_version is", shown, "preprocess the raw data again")


@pytest.mark.parametrize("value", [np.nan, np.inf, 0.0, -128.0, "fast"])
def test_sampling_rate_out_of_range(store, value, capsys):
    _set_attr(store, "sampling_rate", value)
    _info_fails(store, capsys, "sampling_rate is", "not a finite number above 0")


def test_sampling_rate_nan_stops_training_before_any_output(store, capsys):
    _set_attr(store, "sampling_rate", np.nan)
    out = store.parent / "t.pt"
    code, cap = run_cli(["train-teacher", "--data", str(store), "--out", str(out), *TRAIN],
                        capsys)
    one_line_error(code, cap.err, "sampling_rate is nan")
    assert not out.exists() and leftovers(store.parent) == []


def test_eeg_a_group_or_bytes(store, tmp_path, capsys):
    other = tmp_path / "o.h5"
    shutil.copyfile(store, other)
    with h5py.File(store, "r+") as f:
        del f["eeg"]
        f.create_group("eeg")
    _info_fails(store, capsys, "/eeg is a group, not a dataset")
    with h5py.File(other, "r+") as f:
        n = f["eeg"].shape
        del f["eeg"]
        f.create_dataset("eeg", data=np.full(n, b"x", dtype="S1"))
    _info_fails(other, capsys, "/eeg is of type |S1, not numbers")


def test_subject_floats(store, capsys):
    with h5py.File(store, "r+") as f:
        s = f["trials/subject"][()].astype(np.float64) + 0.5
        del f["trials/subject"]
        f["trials/subject"] = s
    _info_fails(store, capsys, "/trials/subject is of type float64, not integers")


def test_integer_channel_names(store, capsys):
    with h5py.File(store, "r+") as f:
        n = len(json.loads(f.attrs["eeg_channels"]))
    _set_attr(store, "eeg_channels", json.dumps(list(range(n))))
    _info_fails(store, capsys, "eeg_channels is", "whose entry 0 is not a name")


def test_duplicate_rating_names_are_refused(store, capsys):
    _set_attr(store, "rating_names", json.dumps(["valence", "arousal", "arousal", "liking"]))
    _info_fails(store, capsys, "rating_names is", "which names 'arousal' twice")


@pytest.mark.parametrize("key, value, fragment", [
    ("preprocessing", "{", "preprocessing is not valid JSON"),
    ("preprocessing", "[1, 2]", "preprocessing is a list of 2"),
    ("rating_names", "[]", "rating_names is an empty list"),
    ("rating_scales", '"x"', "rating_scales is 'x'"),
    ("source", 5, "source is 5, not text"),
])
def test_other_damaged_attributes(store, key, value, fragment, capsys):
    _set_attr(store, key, value)
    _info_fails(store, capsys, fragment)


def test_corrupt_attribute_message(store, capsys):
    b = bytearray(store.read_bytes())
    i = b.find(b"created_with")
    b[i - 8:i - 4] = b"\xff" * 4
    store.write_bytes(bytes(b))
    _info_fails(store, capsys, "the attributes are damaged", "the file is corrupt")


def test_fifo_as_store_is_refused_without_hanging(tmp_path, capsys):
    f = tmp_path / "f.h5"
    os.mkfifo(f)
    code, cap = run_cli(["info", str(f)], capsys)
    one_line_error(code, cap.err, "the store is a FIFO (named pipe), not a regular file")


def test_new_stores_carry_fletcher32_checksums_checked_on_read(store, capsys):
    with h5py.File(store, "r") as f:
        assert f["gsr"].fletcher32 and f["eeg"].fletcher32 and f["trials/ratings"].fletcher32
        off = f["gsr"].id.get_chunk_info(0).byte_offset
    b = bytearray(store.read_bytes())
    b[off + 100] ^= 0xFF  # one flipped byte inside the first GSR chunk
    store.write_bytes(bytes(b))
    out = store.parent / "t.pt"
    code, cap = run_cli(["train-teacher", "--data", str(store), "--out", str(out), *TRAIN],
                        capsys)
    one_line_error(code, cap.err, "cannot read signals", "checksum does not match",
                   "preprocess the data again")
    assert not out.exists() and leftovers(store.parent) == []


def _gsr_values(p: Path, trial: int, n: int, value: float) -> None:
    with h5py.File(p, "r+") as f:
        a = int(f["trials/start"][trial])
        block = f["gsr"][:, a:a + n]
        block[:] = value
        f["gsr"][:, a:a + n] = block


@pytest.mark.parametrize("value", [3e38, 65535.0, -500.0])
def test_implausible_skin_conductance_is_refused(store, value, capsys):
    _gsr_values(store, 4, 50, value)
    out = store.parent / "t.pt"
    code, cap = run_cli(["train-teacher", "--data", str(store), "--out", str(out), *TRAIN],
                        capsys)
    one_line_error(code, cap.err, f"GSR is {value:.4g} µS in subject 2, trial 1",
                   "50 sample(s) beyond ±100 µS", "preprocess the raw data again")
    assert not out.exists() and leftovers(store.parent) == []


def test_plausible_store_still_trains(store, capsys):
    out = store.parent / "t.pt"
    code, cap = run_cli(["train-teacher", "--data", str(store), "--out", str(out), *TRAIN],
                        capsys)
    assert code == 0, cap.err
    assert out.exists() and leftovers(store.parent) == []

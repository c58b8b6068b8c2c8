"""Fault injection into raw datasets (issue 27): DEAP files of the wrong type, HCI sessions
with text ids, unknown record counts, non-finite ratings or flat channels, the same
recording twice. Each case: one line naming the file, exit status 1 (or the input left out
with its reason), no store written and nothing left behind."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import leftovers, one_line_error, run_cli, signature_arrays, write_dat


@pytest.fixture()
def deap_folder(tmp_path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for s in (1, 2):
        write_dat(raw / f"s{s:02d}.dat", signature_arrays(s))
    return raw


def _preprocess(kind: str, raw: Path, out: Path, capsys, *extra: str):
    return run_cli(["preprocess", kind, "--raw", str(raw), "--out", str(out), *extra], capsys)


def test_deap_complex_data_refused_and_skipped(tmp_path, capsys):
    from scipy.io import savemat

    raw = tmp_path / "mat"
    raw.mkdir()
    for s in (1, 2, 3):
        arrays = signature_arrays(s)
        if s == 3:
            arrays["data"] = arrays["data"].astype(np.complex128)
        savemat(raw / f"s{s:02d}.mat", arrays)
    out = tmp_path / "d.h5"
    code, cap = _preprocess("deap", raw, out, capsys)
    one_line_error(code, cap.err, "s03.mat: 'data' is of type complex128, not real numbers",
                   "--skip-bad")
    assert not out.exists() and leftovers(tmp_path) == []
    code, cap = _preprocess("deap", raw, out, capsys, "--skip-bad")
    assert code == 0, cap.err
    from emotionkd.store import open_store

    assert open_store(out).subjects == [1, 2] and "s03.mat" in cap.out


def _mat73(path: Path, data_group: bool) -> Path:
    """A MAT v7.3 file (HDF5 with MATLAB's 512-byte header) whose data is a group."""
    arrays = signature_arrays(3)
    with h5py.File(path, "w", userblock_size=512) as f:
        if data_group:
            f.create_group("data").create_dataset("x", data=np.zeros(3))
        else:
            f["data"] = arrays["data"].T
        f["labels"] = arrays["labels"].T
    head = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan 01 00:00:00 2009 " \
           b"HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(head.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return path


def test_deap_mat73_data_group(tmp_path, capsys):
    raw = tmp_path / "mat"
    raw.mkdir()
    _mat73(raw / "s01.mat", data_group=False)
    _mat73(raw / "s02.mat", data_group=True)
    out = tmp_path / "d.h5"
    code, cap = _preprocess("deap", raw, out, capsys)
    one_line_error(code, cap.err, "s02.mat: 'data' is a group, not an array")
    assert not out.exists()
    code, cap = _preprocess("deap", raw, out, capsys, "--skip-bad")
    assert code == 0, cap.err
    assert out.exists() and leftovers(tmp_path) == []


def test_two_identical_deap_subject_files_are_refused(deap_folder, tmp_path, capsys):
    shutil.copyfile(deap_folder / "s01.dat", deap_folder / "s03.dat")
    out = tmp_path / "d.h5"
    code, cap = _preprocess("deap", deap_folder, out, capsys)
    one_line_error(code, cap.err, "s03.dat: trial 1 holds the same signals as trial 1 of",
                   "s01.dat", "leakage")
    assert not out.exists() and leftovers(tmp_path) == []


def test_deap_flat_gsr_trial_is_left_out(deap_folder, tmp_path, capsys):
    arrays = signature_arrays(3)
    arrays["data"][1, 36, :] = 2.0e5  # trial 2: one resistance throughout
    write_dat(deap_folder / "s03.dat", arrays)
    out = tmp_path / "d.h5"
    code, cap = _preprocess("deap", deap_folder, out, capsys)
    assert code == 0, cap.err
    from emotionkd.store import open_store

    s = open_store(out)
    assert sorted(s.trial[s.subject == 3].tolist()) == [1, 3]
    assert "subject 3, trial 2: the GSR is flat" in " ".join(cap.out.split())


# ---------------------------------------------------------------------------------------------
# MAHNOB-HCI


@pytest.fixture()
def sessions(hci_sessions, tmp_path) -> Path:
    root = tmp_path / "Sessions"
    shutil.copytree(hci_sessions, root)
    return root


def _emotional(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if (p / "session.xml").exists()
                  and 'isStim="1"' in (p / "session.xml").read_text())


def _edit_xml(folder: Path, pattern: str, repl: str) -> None:
    xml = folder / "session.xml"
    text, n = re.subn(pattern, repl, xml.read_text())
    assert n, pattern
    xml.write_text(text)


def test_hci_session_id_text_without_trial_in_the_name(sessions, tmp_path, capsys):
    folder = _emotional(sessions)[0]
    bdf = next(folder.glob("*.bdf"))
    bdf.rename(folder / "recording.bdf")
    _edit_xml(folder, r'filename="[^"]+"', 'filename="recording.bdf"')
    _edit_xml(folder, r'sessionId="\d+"', 'sessionId="two"')
    out = tmp_path / "h.h5"
    code, cap = _preprocess("hci", sessions, out, capsys, "--strict")
    one_line_error(code, cap.err, "session.xml: sessionId is 'two', not a whole number",
                   "--strict")
    assert not out.exists()
    code, cap = _preprocess("hci", sessions, out, capsys)
    assert code == 0, cap.err
    assert "sessionId is 'two'" in " ".join(cap.out.split())


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_hci_non_finite_rating_refused_before_writing(sessions, tmp_path, value, capsys):
    folder = _emotional(sessions)[0]
    _edit_xml(folder, r'feltEmo="[^"]+"', f'feltEmo="{value}"')
    out = tmp_path / "h.h5"
    code, cap = _preprocess("hci", sessions, out, capsys, "--strict")
    one_line_error(code, cap.err, f"feltEmo is '{value}', not a finite number")
    assert not out.exists() and leftovers(tmp_path) == []
    code, cap = _preprocess("hci", sessions, out, capsys)
    assert code == 0, cap.err
    from emotionkd.store import open_store

    s = open_store(out)  # the store holds the other sessions and is readable
    assert np.isfinite(s.ratings).all() and s.n_trials == len(_emotional(sessions)) - 1


def test_hci_same_session_twice_is_refused(sessions, tmp_path, capsys):
    folder = _emotional(sessions)[0]
    shutil.copytree(folder, sessions / "9999")
    out = tmp_path / "h.h5"
    code, cap = _preprocess("hci", sessions, out, capsys)
    one_line_error(code, cap.err, "holds the same signals as trial", "leakage")
    assert not out.exists() and leftovers(tmp_path) == []


def _patch_header(bdf: Path, offset: int, width: int, text: str) -> None:
    with open(bdf, "r+b") as fh:
        fh.seek(offset)
        fh.write(text.encode().ljust(width))


def test_hci_bdf_with_unknown_record_count(sessions, tmp_path, capsys):
    from emotionkd.datasets.bdf import read_bdf_header

    bdf = next(_emotional(sessions)[0].glob("*.bdf"))
    n = read_bdf_header(bdf).n_records
    _patch_header(bdf, 236, 8, "-1")
    assert read_bdf_header(bdf).n_records == n  # counted from the file's size
    out = tmp_path / "h.h5"
    code, cap = _preprocess("hci", sessions, out, capsys)
    assert code == 0, cap.err
    from emotionkd.store import open_store

    assert open_store(out).n_trials == len(_emotional(sessions))  # the session was read


def test_hci_bdf_physical_min_equal_max_is_left_out(sessions, tmp_path, capsys):
    from emotionkd.datasets.bdf import read_bdf_header

    bdf = next(_emotional(sessions)[0].glob("*.bdf"))
    h = read_bdf_header(bdf)
    n = h.n_channels
    base = 256 + n * (16 + 80 + 8)  # the physical minima, then the maxima
    for i in range(n):
        _patch_header(bdf, base + 8 * i, 8, "0")
        _patch_header(bdf, base + 8 * n + 8 * i, 8, "0")
    assert read_bdf_header(bdf).flat(["GSR1"]) == ["GSR1"]
    out = tmp_path / "h.h5"
    code, cap = _preprocess("hci", sessions, out, capsys, "--strict")
    one_line_error(code, cap.err, "physical minimum = maximum", "flat recording")
    assert not out.exists()
    code, cap = _preprocess("hci", sessions, out, capsys)
    assert code == 0, cap.err
    assert "flat recording" in " ".join(cap.out.split())


def test_predict_refuses_a_truncated_bdf_like_preprocess(sessions, tiny_models, tmp_path,
                                                        capsys):
    bdf = next(_emotional(sessions)[0].glob("*.bdf"))
    cut = tmp_path / "half.bdf"
    data = bdf.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    code, cap = run_cli(["predict", "--model", str(tiny_models["student"]), "--input",
                         str(cut), "--channel", "GSR1"], capsys)
    one_line_error(code, cap.err, "half.bdf: truncated BDF")

"""Recording readers (emotionkd.recordings): Empatica E4, CSV decimal commas and units (the
OpenSignals reader is in test_recordings_opensignals.py)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from conftest import REAL, write_eda_csv
from conftest import run_cli as _run

from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.recordings import read_recording
from emotionkd.signals import infer_gsr_unit


def test_e4_session_zip_folder_and_other_streams(tmp_path):
    e4 = read_recording(REAL / "e4_EDA.csv")
    acc = "1560279825.000000,1560279825.000000,1560279825.000000\n32,32,32\n-1,2,60\n" * 1
    zpath = tmp_path / "1560279825_A01234.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(REAL / "e4_EDA.csv", "EDA.csv")
        zf.writestr("ACC.csv", acc)
    rec = read_recording(zpath)
    assert (rec.fmt, rec.fs, rec.start_time) == ("e4", 4.0, e4.start_time)
    np.testing.assert_array_equal(rec.values, e4.values)
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "EDA.csv").write_bytes((REAL / "e4_EDA.csv").read_bytes())
    (folder / "ACC.csv").write_text(acc)
    np.testing.assert_array_equal(read_recording(folder).values, e4.values)
    with pytest.raises(DataFormatError, match="is the E4 ACC stream, not skin conductance"):
        read_recording(folder / "ACC.csv")
    with zipfile.ZipFile(tmp_path / "no_eda.zip", "w") as zf:
        zf.writestr("ACC.csv", acc)
    with pytest.raises(DataFormatError, match=r"no EDA.csv in the zip \(ACC.csv\)"):
        read_recording(tmp_path / "no_eda.zip")
    (tmp_path / "rec.h5").write_bytes(b"\x89HDF")
    with pytest.raises(DataFormatError, match="unsupported recording format '.h5'; supported: "
                                              "Empatica E4 .*OpenSignals text"):
        read_recording(tmp_path / "rec.h5")


def test_decimal_commas_are_parsed_or_refused_never_truncated(tmp_path, subject_ckpt, capsys):
    x = 5 + 0.25 * np.sin(np.arange(1000) / 40)
    text = lambda v: f"{v:.4f}".replace(".", ",")  # noqa: E731
    semi = tmp_path / "semi.csv"
    semi.write_text("time;EDA\n" + "\n".join(f"{text(i / 100)};{text(v)}"
                                              for i, v in enumerate(x)) + "\n")
    with pytest.raises(DataFormatError, match="decimal commas; pass --decimal ,"):
        read_recording(semi, column="EDA", time_column="time")
    rec = read_recording(semi, column="EDA", time_column="time", decimal=",")
    assert rec.fs == pytest.approx(100)
    np.testing.assert_allclose(rec.values, np.round(x, 4), atol=1e-12)
    one = tmp_path / "one.csv"  # one column: a naive comma split would keep the integer part
    one.write_text("EDA\n" + "\n".join(text(v) for v in x) + "\n")
    with pytest.raises(DataFormatError, match="more comma-separated fields.*--decimal ,"):
        read_recording(one, fs=100)
    np.testing.assert_allclose(read_recording(one, fs=100, decimal=",").values, np.round(x, 4))
    bare = tmp_path / "bare.csv"  # no header either
    bare.write_text("\n".join(text(v) for v in x) + "\n")
    with pytest.raises(DataFormatError, match="decimal"):
        read_recording(bare, fs=100, column="0")
    tsv = tmp_path / "rec.tsv"
    tsv.write_text("t\tEDA\n" + "\n".join(f"{i / 100}\t{v}" for i, v in enumerate(x)) + "\n")
    np.testing.assert_allclose(read_recording(tsv, time_column="t").values, x)
    with pytest.raises(ConfigError, match="--decimal must be one of auto, ., ,"):
        read_recording(tsv, fs=100, decimal=";")
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(semi),
                      "--column", "EDA", "--time-column", "time", "--decimal", ","], capsys)
    assert code == 0, cap.err


def test_units_inferred_only_when_unambiguous(tmp_path, subject_ckpt, capsys):
    from emotionkd.datasets.bdf import BdfChannel, write_bdf

    assert infer_gsr_unit(np.full(10, 5.0), "x")[0] == "us"
    assert infer_gsr_unit(np.full(10, 2e5), "x")[0] == "ohm"
    with pytest.raises(DataFormatError, match=r"median 500 is a plausible skin conductance as "
                                              r"nS .* or kOhm .*; pass --unit us\|ohm\|kohm\|ns"):
        infer_gsr_unit(np.full(10, 500.0), "x")
    with pytest.raises(DataFormatError, match="not positive"):
        infer_gsr_unit(np.full(10, -1.0), "x")
    # a PLUX-like EDF/BDF whose EDA channel declares its unit as 'n/a'
    sig = 5 + 0.3 * np.sin(np.arange(128 * 20) / 100)
    p = write_bdf(tmp_path / "plux.bdf", [BdfChannel("EDA", "n/a", 0, 30)], sig[None, :], 128)
    rec = read_recording(p)
    assert rec.unit == "us" and "declares unit 'n/a'" in rec.notes[0]
    np.testing.assert_allclose(rec.values, sig, atol=1e-4)
    p = write_bdf(tmp_path / "plux2.bdf", [BdfChannel("EDA", "n/a", 0, 3000)],
                  100 * sig[None, :], 128)
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(p)], capsys)
    assert code == 1 and "pass --unit us|ohm|kohm|ns" in cap.err
    assert len(cap.err.strip().splitlines()) == 1
    np.testing.assert_allclose(read_recording(p, unit="kohm").values, 1e3 / (100 * sig),
                               rtol=1e-3)
    # predict has no --gsr-unit: its messages name --unit
    zeros = write_eda_csv(tmp_path / "zero.csv", np.r_[np.zeros(10), np.ones(900)])
    with pytest.raises(DataFormatError, match=r"pass --unit us\|ns"):
        read_recording(zeros, fs=100, unit="ohm")
    with pytest.raises(ConfigError, match="--unit must be one of auto, us, ohm, kohm, ns"):
        read_recording(zeros, fs=100, unit="mV")

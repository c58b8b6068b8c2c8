"""Fault injection into the recordings ``predict`` reads (issue 27): binary and huge files,
gaps, oversized zip members, FIFOs, rounded time stamps, implausible samples. Each refusal
is one line naming the file, exit status 1, no output and nothing left behind; each valid
input is accepted."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import leftovers, one_line_error, run_cli

from emotionkd.predict import load_predictor
from emotionkd.recordings import read_recording


def _predict(model: Path, inp: Path, capsys, *extra: str):
    out = inp.parent / "p.csv"
    code, cap = run_cli(["predict", "--model", str(model), "--input", str(inp), "--out",
                         str(out), *extra], capsys)
    return code, cap, out


def _refused(model: Path, inp: Path, capsys, *fragments: str, extra=("--fs", "32")) -> str:
    code, cap, out = _predict(model, inp, capsys, *extra)
    line = one_line_error(code, cap.err, *fragments)
    assert not out.exists() and leftovers(inp.parent) == []
    return line


def _gsr(n: int, seed: int = 0) -> np.ndarray:
    return 5 + np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n))


def test_nul_bytes(tiny_models, tmp_path, capsys):
    p = tmp_path / "in.csv"
    p.write_bytes(b"\0" * 300_000)
    _refused(tiny_models["student"], p, capsys, "in.csv: holds NUL bytes", "not CSV text")


def test_huge_sparse_file_is_refused_before_reading(tiny_models, tmp_path, capsys):
    p = tmp_path / "big.csv"
    with open(p, "wb") as fh:
        fh.write(b"gsr\n5.0\n")
        fh.truncate(2 * 2**30)  # 2 GiB, sparse: nothing on disk
    _refused(tiny_models["student"], p, capsys, "big.csv: the recording is 2,048.0 MiB",
             "more than the 256 MiB", "split the recording")


@pytest.mark.parametrize("body, row", [
    ("\n".join(["5.0"] * 100 + [""] + ["5.1"] * 859), 101),  # a blank line: a gap
    ("\n".join(["1,5.0"] * 10 + ["2,"] + ["3,5.1"] * 949), 11),  # an empty cell
])
def test_csv_gaps_are_refused_not_dropped(tiny_models, tmp_path, body, row, capsys):
    p = tmp_path / "in.csv"
    head = "gsr" if "," not in body else "n,gsr"
    p.write_text(f"{head}\n{body}\n")
    _refused(tiny_models["student"], p, capsys, "1 empty cell(s) or blank row(s)",
             f"the first in data row {row}", "fill or interpolate them")


def test_csv_trailing_blank_lines_are_fine(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text("gsr\n" + "\n".join(f"{v:.3f}" for v in _gsr(960)) + "\n\n\n")
    assert len(read_recording(p, fs=32).values) == 960


def test_e4_zip_with_a_huge_eda_member(tiny_models, tmp_path, capsys):
    p = tmp_path / "e4.zip"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
            zf.open("EDA.csv", "w", force_zip64=True) as fh:
        fh.write(b"1500000000.0\n4.0\n")
        chunk = b"0.1\n" * 250_000
        for _ in range(68):  # 68 MB unpacked, 17 M lines
            fh.write(chunk)
    assert p.stat().st_size < 1_000_000
    _refused(tiny_models["student"], p, capsys, "e4.zip:EDA.csv: the EDA stream is",
             "MiB unpacked, more than the 32 MiB", extra=())


def test_e4_zip_of_normal_size_is_read(tmp_path):
    p = tmp_path / "e4.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("EDA.csv", "1500000000.0\n4.0\n" + "\n".join(
            f"{v:.4f}" for v in _gsr(400)) + "\n")
    rec = read_recording(p)
    assert rec.fs == 4.0 and len(rec.values) == 400


def test_fifo_as_input_is_refused_without_hanging(tiny_models, tmp_path, capsys):
    p = tmp_path / "in.csv"
    os.mkfifo(p)
    _refused(tiny_models["student"], p, capsys, "the recording is a FIFO (named pipe)")


@pytest.mark.parametrize("fs, decimals", [(32, 3), (128, 6), (4, 2)])
def test_rounded_time_stamps_are_accepted(tmp_path, fs, decimals):
    n = 30 * fs
    p = tmp_path / "in.csv"
    p.write_text("t,gsr\n" + "\n".join(f"{i / fs:.{decimals}f},{v:.4f}"
                                       for i, v in enumerate(_gsr(n))) + "\n")
    rec = read_recording(p, time_column="t")
    assert rec.fs == fs and len(rec.values) == n


def test_unevenly_spaced_time_stamps_are_still_refused(tmp_path):
    from emotionkd.errors import DataFormatError

    t = np.arange(960) / 32
    t[500:] += 0.2  # a 0.2-s jump: samples are missing
    p = tmp_path / "in.csv"
    p.write_text("t,gsr\n" + "\n".join(f"{a:.3f},{v:.4f}" for a, v in zip(t, _gsr(960))) + "\n")
    with pytest.raises(DataFormatError, match="not evenly spaced"):
        read_recording(p, time_column="t")


def test_a_65535_spike_is_flagged_not_averaged_in(tiny_models):
    pred = load_predictor(tiny_models["student"])
    x = _gsr(32 * 30)
    clean = pred.predict_array(x, 32)
    x[400] = 65535.0
    res = pred.predict_array(x, 32)
    flags = [r["quality"] for r in res.rows]
    assert flags.count("implausible") == 1 and flags[400 // 64] == "implausible"
    assert any("implausible" in w for w in res.warnings)
    # the summary is that of the clean recording, give or take the one flagged window: the
    # normalisation statistics come from the usable samples only
    n = len(flags)
    assert abs(res.summary["fraction_high"] - clean.summary["fraction_high"]) <= 1.5 / n
    assert abs(res.summary["mean_p_high"] - clean.summary["mean_p_high"]) < 0.05
    assert abs(res.summary["norm_std"] - clean.summary["norm_std"]) < 0.1 * clean.summary[
        "norm_std"]


def test_a_huge_file_without_newlines_is_not_read_whole(tiny_models, tmp_path, capsys):
    p = tmp_path / "in.txt"  # sniffed as OpenSignals, E4 or CSV: each looks at a bounded head
    with open(p, "wb") as fh:
        fh.truncate(2 * 2**30)
    _refused(tiny_models["student"], p, capsys, "in.txt: the recording is 2,048.0 MiB")

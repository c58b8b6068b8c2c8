"""Command line: start-up cost, version, one-line errors with non-zero exit, main commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emotionkd import __version__
from emotionkd.cli import main


def run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_does_not_import_torch():
    code = (
        "import sys; sys.argv=['emotionkd','--help']\n"
        "from emotionkd.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('torch','h5py','scipy','sklearn','numpy','mne') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in res.stdout
    assert "preprocess" in res.stdout


def test_python_dash_m_and_version():
    res = subprocess.run([sys.executable, "-m", "emotionkd", "--version"],
                         capture_output=True, text=True, check=True)
    assert res.stdout.strip() == f"emotionkd {__version__}"


def test_errors_are_one_line_with_nonzero_exit(tmp_path, capsys):
    code, out, err = run(["info", str(tmp_path / "missing.h5")], capsys)
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing.h5" in lines[0]
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    code, _, err = run(["info", str(bad)], capsys)
    assert code == 1 and "bad.h5: not a readable HDF5 file" in err
    code, _, err = run(["preprocess", "deap", "--raw", str(tmp_path), "--out",
                        str(tmp_path / "o.h5")], capsys)
    assert code == 1 and "no DEAP subject files" in err and "Traceback" not in err
    assert not (tmp_path / "o.h5").exists()
    code, _, err = run(["preprocess", "deap", "--raw", str(tmp_path), "--out",
                        str(tmp_path / "o.h5"), "--eeg-channels", "Fp1,Q7"], capsys)
    assert code == 1 and "unknown channel(s) Q7" in err


@pytest.mark.parametrize("args", [["synth", "deap", "--out", "x", "--format", "zip"],
                                  ["preprocess", "deap", "--raw", "x"]])
def test_usage_errors_exit_2(args, capsys):
    code, _, _ = run(args, capsys)
    assert code == 2

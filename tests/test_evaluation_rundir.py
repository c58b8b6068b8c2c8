"""Run folders (emotionkd.evaluation.rundir): runs of another format are refused in one line."""

from __future__ import annotations

import json

import pytest

from emotionkd.cli import main
from emotionkd.errors import DataFormatError
from emotionkd.evaluation import (
    build_report,
)


def test_runs_of_another_format_are_refused_in_one_line(tmp_path, capsys):
    run = tmp_path / "old"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"format": "emotionkd-run", "format_version": 2,
                                              "config": {"protocol": "loso"}}))
    with pytest.raises(DataFormatError, match="run format_version 2 is not read by emotionkd"):
        build_report(run)
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run)])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and len(err.strip().splitlines()) == 1
    assert "run the evaluation again" in err

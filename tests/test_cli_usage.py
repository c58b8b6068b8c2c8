"""The look of the command line and its usage errors (emotionkd.cli.usage): flags without a
value, required options marked one way, one-line usage errors naming the option with the
likely choice, option or command, a value given to a flag refused with how to write it."""

from __future__ import annotations

import pytest
from conftest import run_cli

from emotionkd.cli.options import required

COMMANDS = [["train-teacher"], ["distill"], ["evaluate"], ["report"], ["export"], ["predict"],
            ["demo"], ["info"], ["models"], ["synth", "deap"], ["synth", "hci"],
            ["preprocess", "deap"], ["preprocess", "hci"], []]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "emotionkd")
def test_help_shows_flags_plainly_and_required_options_one_way(command, capsys):
    code, cap = run_cli([*command, "--help"], capsys)
    assert code == 0, cap.err
    text = cap.out
    assert "<bool>" not in text  # flags take no value
    assert "(required)" not in text  # one mark: typer's * and [required]
    rows = [ln for ln in text.splitlines() if "--out " in ln or "--data " in ln]
    if command in (["train-teacher"], ["distill"], ["preprocess", "deap"], ["export"]):
        assert rows and all("*" in ln for ln in rows if "--out " in ln), rows
        assert "[required]" in text


def test_required_options_of_the_training_commands_are_marked_but_not_parsed_as_required(
        capsys):
    code, cap = run_cli(["train-teacher", "--print-config", "--size", "tiny"], capsys)
    assert code == 0 and "[model]" in cap.out  # no --data, no --out: still fine
    code, cap = run_cli(["train-teacher", "--out", "t.pt"], capsys)
    assert code == 2
    assert cap.err.strip() == ("error: --data: missing; it is required (unless --print-config "
                               "is given)")
    with pytest.raises(Exception, match="missing"):
        required(None, "--out")


@pytest.mark.parametrize("args, line", [
    (["train-teacher", "--data", "d.h5", "--out", "t.pt", "--size", "huge"],
     "--size: 'huge' is not one of auto, paper, small, tiny"),
    (["train-teacher", "--data", "d.h5", "--out", "t.pt", "--norm", "subjekt"],
     "--norm: 'subjekt' is not one of subject, train, none; did you mean subject?"),
    (["preprocess", "deap", "--raw", "r", "--out", "o.h5", "--baseline", "substract"],
     "--baseline: 'substract' is not one of subtract, none, keep; did you mean subtract?"),
    (["train-teacher", "--data", "d.h5", "--out", "t.pt", "--epoch", "3"],
     "--epoch: no such option of 'emotionkd train-teacher'; did you mean --epochs?"),
    (["train-teacher", "--data", "d.h5", "--out", "t.pt", "--epochs", "abc"],
     "--epochs: 'abc' is not a whole number"),
    (["preprocess", "deap", "--out", "o.h5"],
     "--raw: missing; it is required (emotionkd preprocess deap -h lists the options)"),
    (["report"], "RUN: missing; it is required (emotionkd report -h lists the options)"),
    (["evalute"], "No such command 'evalute'. Did you mean 'evaluate'?"),
    (["train-teacher", "--data", "d.h5", "--out", "t.pt", "--overwrite", "true"],
     "--overwrite is a flag and takes no value (--overwrite true); write --overwrite, or "
     "leave it out"),
    (["evaluate", "--data", "d.h5", "--loso", "--feedback", "yes"],
     "--feedback is a flag and takes no value (--feedback yes); write --feedback or "
     "--no-feedback"),
])
def test_usage_errors_are_one_line_naming_the_option(args, line, capsys):
    code, cap = run_cli(args, capsys)
    assert code == 2
    assert cap.err.strip() == f"error: {line}"
    assert "Value error" not in cap.err and "╭" not in cap.err


def test_an_option_out_of_its_bounds_is_one_line_with_the_bound(capsys):
    # bounds are checked by the option's own rule (issue 27): one line with the range and why
    code, cap = run_cli(["synth", "deap", "--out", "x", "--subjects", "0"], capsys)
    assert code == 1
    assert cap.err.strip() == ("error: --subjects must be a whole number of at least 1 and at "
                               "most 99 (file names s01 … s99), got 0")


def test_misspelt_values_checked_by_the_library_get_a_suggestion(deap_store, tmp_path,
                                                                  capsys):
    out = str(tmp_path / "t.pt")
    for args, hint in ((["--target", "arousl"], "has no rating 'arousl'; available: valence, "
                                                "arousal, dominance, liking; did you mean "
                                                "arousal?"),
                       (["--eeg-channels", "tsception"], "did you mean tsception28?"),
                       (["--eeg-channels", "Fp1,Cz,PO33"], "did you mean PO3?")):
        code, cap = run_cli(["train-teacher", "--data", str(deap_store), "--out", out, *args],
                            capsys)
        assert code == 1 and hint in cap.err and len(cap.err.strip().splitlines()) == 1
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--loso", "--methods",
                         "emotionkd,nne"], capsys)
    assert code == 1 and "unknown nne; choose from" in cap.err and "did you mean none?" in \
        cap.err
    code, cap = run_cli(["train-teacher", "--data", str(deap_store), "--out", out,
                         "--target", "xyz"], capsys)
    assert code == 1 and "did you mean" not in cap.err  # nothing close: no guess


def test_version_and_a_bare_group_still_work(capsys):
    from emotionkd import __version__

    code, cap = run_cli(["--version"], capsys)
    assert code == 0 and cap.out.strip() == f"emotionkd {__version__}"
    code, cap = run_cli(["preprocess"], capsys)
    assert code == 2 and "deap" in cap.out  # its help, as before


def test_the_installed_typer_is_in_the_pinned_range():
    """The look of --help and of usage errors is typer's: pyproject.toml pins the range the
    tests run with, and the tests run with a typer inside it."""
    import re
    from importlib.metadata import version

    from conftest import ROOT
    from packaging.specifiers import SpecifierSet

    pin = re.search(r'"typer([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    spec = SpecifierSet(pin)
    assert "<" in pin and version("typer") in spec, (pin, version("typer"))


def test_ctrl_c_inside_a_command_reaches_main_as_an_interruption(deap_store, capsys,
                                                                  monkeypatch):
    """typer turns Ctrl-C into exit status 130; run() gives it back to main, which says so."""
    import emotionkd.cli.render as render

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "store_summary", interrupted)
    code, cap = run_cli(["info", str(deap_store)], capsys)
    assert code == 130 and "interrupted" in cap.err

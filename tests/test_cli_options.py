"""The shared command-line options (emotionkd.cli.options): every default visible in --help."""

from __future__ import annotations

import pytest


def _help_text(args: list[str]) -> str:
    """``emotionkd ARGS --help`` as plain text on a wide terminal (typer's CliRunner)."""
    import re

    from typer.testing import CliRunner

    from emotionkd.cli import build_app

    res = CliRunner().invoke(build_app(), [*args, "--help"], env={"COLUMNS": "200",
                                                         "TERMINAL_WIDTH": "200"})
    assert res.exit_code == 0, res.output
    return re.sub(r"\x1b\[[0-9;]*m", "", res.output)


@pytest.mark.parametrize("command, expect", [
    ("train-teacher", {"--epochs": "20", "--patience": "0", "--schedule": "cosine",
                       "--warmup-epochs": "1.0", "--label-smoothing": "0.1", "--window": "4.0",
                       "--norm": "subject", "--size": "auto",
                       "--lr": "(0.0001 at paper, 0.001 at small, 0.001 at tiny (by the model "
                               "size))"}),
    ("distill", {"--method": "emotionkd", "--feedback-warmup": "1", "--pilot-lr": "0.01",
                 "--epochs": "20", "--schedule": "cosine", "--hint-map": "fold"}),
    ("evaluate", {"--methods": "emotionkd,none", "--target": "arousal",
                  "--batch-size": "(64 at paper, 32 at small, 32 at tiny (by the model size))",
                  "--feedback-warmup": "1", "--quiz-fraction": "0.2"}),
    ("demo", {"--out": "emotionkd-demo", "--seed": "0"}),
    ("models", {"--size": "paper", "--fs": "128.0"}),
])
def test_help_shows_the_defaults(command, expect):
    """Every default of the configuration is visible in --help (none swallowed as markup)."""
    lines = _help_text([command]).splitlines()
    for flag, default in expect.items():
        at = next((i for i, ln in enumerate(lines) if f" {flag} " in ln
                   and ln.split(flag)[0].strip(" │*") == ""), None)
        assert at is not None, f"{command}: no row for {flag}"
        row = [lines[at]]
        for ln in lines[at + 1:]:  # the option's help, wrapped onto further lines
            if ln.strip(" │").startswith(("-", "*")) or not ln.startswith("│"):
                break
            row.append(ln)
        text = " ".join(" ".join(ln.strip(" │").split()) for ln in row)
        assert f"[default: {default}]" in text, f"{command} {flag}: {text}"
    if command != "demo" and command != "models":
        whole = "\n".join(lines)
        assert "--print-config" in whole and "--config" in whole

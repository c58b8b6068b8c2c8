"""The demo, the examples, and the CLI reference kept in sync with the commands' --help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from emotionkd.cli import app, main

ROOT = Path(__file__).resolve().parents[1]


def _run(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr()


def _commands():
    import typer

    root = typer.main.get_command(app)
    out = {}
    for name, cmd in root.commands.items():
        sub = getattr(cmd, "commands", None)
        if sub:
            for sname, scmd in sub.items():
                out[f"{name} {sname}"] = scmd
        else:
            out[name] = cmd
    return out


def _options(cmd) -> set[str]:
    opts = set()
    for p in cmd.params:
        for o in list(getattr(p, "opts", [])) + list(getattr(p, "secondary_opts", [])):
            if o.startswith("--") and o != "--help":
                opts.add(o)
    return opts


def _sections() -> dict[str, str]:
    text = (ROOT / "docs" / "cli.md").read_text()
    parts = re.split(r"^## `emotionkd ([a-z -]+)`\s*$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def test_cli_reference_matches_help():
    sections = _sections()
    commands = _commands()
    assert set(sections) == set(commands), (set(sections) ^ set(commands))
    for name, cmd in commands.items():
        documented = set(re.findall(r"--[a-z][a-z0-9-]*", sections[name]))
        # "--feedback/--no-feedback" documents both spellings
        actual = _options(cmd)
        missing = actual - documented
        stale = documented - actual - {"--help"}
        assert not missing, f"{name}: options missing from docs/cli.md: {sorted(missing)}"
        assert not stale, f"{name}: docs/cli.md lists options the command lacks: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_help(name, capsys):
    code, cap = _run([*name.split(), "--help"], capsys)
    assert code == 0 and "Usage" in cap.out


def test_demo_runs_end_to_end(tmp_path, capsys):
    code, cap = _run(["demo", "--quick", "--out", str(tmp_path / "demo")], capsys)
    assert code == 0, cap.err
    assert "reduced so it runs in minutes" in cap.out
    assert "student-emotionkd+feedback" in cap.out and "student-none" in cap.out
    run = tmp_path / "demo" / "run"
    assert (run / "report.md").exists() and (run / "results.csv").exists()
    assert list((run / "models").rglob("student-emotionkd+feedback.pt"))
    assert f"figures: {run / 'figures'}" in cap.out  # where the report's PNGs are
    assert (run / "figures" / "arousal-folds.png").exists()
    code, cap = _run(["demo", "--quick", "--out", str(tmp_path / "demo")], capsys)
    assert code == 1 and "--overwrite" in cap.err


def test_api_walkthrough_example(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "api_walkthrough.py"),
                          "--quick", "--out", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "exported" in res.stdout and (tmp_path / "student.onnx").exists()


def test_paper_config_drives_the_pipeline(deap_store, tmp_path, capsys):
    cfg = ROOT / "examples" / "deap_paper.toml"
    small = ["--size", "tiny", "--epochs", "1"]
    code, cap = _run(["train-teacher", "--data", str(deap_store), "--out", str(tmp_path / "t.pt"),
                      "--config", str(cfg), *small], capsys)
    assert code == 0, cap.err
    from emotionkd.checkpoint import load_checkpoint

    ck = load_checkpoint(tmp_path / "t.pt")
    assert len(ck["data"]["eeg_channels"]) == 28 and ck["data"]["window"] == 512
    assert ck["training"]["config"]["lr"] == 1e-4  # from the file
    code, cap = _run(["distill", "--teacher", str(tmp_path / "t.pt"), "--data", str(deap_store),
                      "--out", str(tmp_path / "s.pt"), "--config", str(cfg), "--epochs", "1",
                      "--warmup", "0"], capsys)
    assert code == 0, cap.err
    assert load_checkpoint(tmp_path / "s.pt")["distillation"]["weights"]["kl"] == 0.1
    code, cap = _run(["evaluate", "--data", str(deap_store), "--config", str(cfg), *small,
                      "--methods", "none", "--baselines", "deepconvnet",
                      "--out", str(tmp_path / "run")], capsys)
    assert code == 0, cap.err
    assert "leave-one-subject-out" in (tmp_path / "run" / "report.md").read_text()

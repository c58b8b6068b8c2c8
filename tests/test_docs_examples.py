"""The demo, the examples, and the CLI reference kept in sync with the commands' --help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli as _run
from conftest import run_page_code

from emotionkd.cli import app

ROOT = Path(__file__).resolve().parents[1]


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
        if getattr(p, "hidden", False):  # deprecated aliases are not documented
            continue
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
        others = "|".join(re.escape(c) for c in commands if c != name)
        text = re.sub(rf"\b(?:{others}) --[a-z][a-z0-9-]*", "", sections[name])  # theirs
        documented = set(re.findall(r"--[a-z][a-z0-9-]*", text))
        # "--feedback/--no-feedback" documents both spellings
        actual = _options(cmd)
        missing = actual - documented
        stale = documented - actual - {"--help"}
        assert not missing, f"{name}: options missing from docs/cli.md: {sorted(missing)}"
        assert not stale, f"{name}: docs/cli.md lists options the command lacks: {sorted(stale)}"


def test_generated_docs_are_current():
    """docs/cli.md's option tables and docs/reproducing.md's resolved configuration are made
    from the commands; after a change of an option or a default, run
    python -m emotionkd.cli_docs."""
    from emotionkd.cli_docs import DOCS, update

    for doc in DOCS:
        text = (ROOT / doc).read_text()
        assert "<!-- generated: " in text
        assert update(text) == text, f"{doc} is stale: run python -m emotionkd.cli_docs"


def _help(name, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "300")  # one line per option: nothing wrapped
    monkeypatch.setenv("TERMINAL_WIDTH", "300")
    code, cap = _run([*name.split(), "--help"], capsys)
    assert code == 0 and "Usage" in cap.out
    return cap.out


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_help_with_defaults_and_choices(name, capsys, monkeypatch):
    from emotionkd.cli_docs import option_rows

    out = _help(name, capsys, monkeypatch)
    rows = [r for panel in option_rows(name).values() for r in panel]
    lines = out.splitlines()
    for option, default, _meaning in rows:
        flag = option.split("`")[1].split("/")[0]
        if not flag.startswith("-"):
            continue  # an argument: no default, listed under Arguments
        at = re.compile(rf"^[│\s*]*(?:-\w, )?{re.escape(flag)}(?![\w-])")  # its own row
        i = next((i for i, ln in enumerate(lines) if at.match(ln)), None)
        assert i is not None, f"{name}: {flag} is not in --help"
        line = lines[i]
        for ln in lines[i + 1:]:  # its help wrapped onto further lines
            if ln.strip(" │").startswith(("-", "*")) or not ln.startswith("│"):
                break
            line += " " + ln.strip(" │")
        line = " ".join(line.split())
        if default and default not in ("required", "on", "off"):
            assert f"[default: {default}]" in line or f"[default: ({default})]" in line, \
                f"{name} {flag}: --help does not show its default {default!r}: {line}"
        if "\\|" in option:  # a choice: every allowed value is listed
            choices = option.split("` ", 1)[1].split("\\|")
            assert "|".join(choices) in line, f"{name} {flag}: choices not shown: {line}"
    # help text is shown whole (no square brackets swallowed as markup)
    for _, _, meaning in rows:
        assert "[" not in meaning and "]" not in meaning


def test_command_summaries_fit_one_line_and_completion_installs(capsys):
    """The first line of every command's docstring is its summary in emotionkd --help."""
    from emotionkd.cli_docs import commands

    for name, fn in commands():
        first, _, rest = fn.__doc__.strip().partition("\n")
        assert first.endswith(".") and len(first) <= 80, f"{name}: {first!r}"
        assert not rest or rest.startswith("\n"), f"{name}: the summary runs on: {first!r}"
    code, cap = _run(["--help"], capsys)
    assert code == 0 and "--install-completion" in cap.out and "--show-completion" in cap.out


def _check_demo(out: str, run: Path) -> None:
    """What the README promises of ``emotionkd demo`` (run by the README test)."""
    assert "reduced so it runs in minutes" in out
    assert "student-emotionkd+feedback" in out and "student-none" in out
    # the teacher's margin over the yardsticks and the distillation comparison, with intervals
    for pair in ("teacher − baseline-eeg-features", "teacher − baseline-shallowconvnet",
                 "student-emotionkd − student-none", "student-emotionkd+feedback − student-none"):
        line = next((ln for ln in out.splitlines() if pair + ":" in ln), "")
        assert "95 % CI" in line, (pair, out)
    assert (run / "report.md").exists() and (run / "results.csv").exists()
    assert list((run / "models").rglob("student-emotionkd+feedback.pt"))
    assert f"figures: {run / 'figures'}" in out  # where the report's PNGs are
    assert (run / "figures" / "arousal-folds.png").exists()


def test_demo_refuses_a_folder_in_use(tmp_path, capsys):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("mine")
    code, cap = _run(["demo", "--quick", "--out", str(tmp_path / "demo")], capsys)
    assert code == 1 and "--overwrite" in cap.err
    assert (tmp_path / "demo" / "notes.txt").read_text() == "mine"


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
    assert len(ck["data"]["eeg_channels"]) == 28 and ck["data"]["window_samples"] == 512
    assert ck["config"]["train"]["lr"] == 1e-4  # from the file
    code, cap = _run(["distill", "--teacher", str(tmp_path / "t.pt"), "--data", str(deap_store),
                      "--out", str(tmp_path / "s.pt"), "--config", str(cfg), "--epochs", "1",
                      "--feedback-warmup", "0"], capsys)
    assert code == 0, cap.err
    s = load_checkpoint(tmp_path / "s.pt")
    assert s["config"]["distill"]["kl_weight"] == 0.1
    assert s["config"]["feedback"]["feedback_warmup"] == 0  # the flag over the file's 2
    assert s["config"]["feedback"]["pilot_lr"] == 0.01  # [feedback] applied
    assert s["config"]["data"]["eeg_channels"] == ",".join(ck["data"]["eeg_channels"])
    code, cap = _run(["evaluate", "--data", str(deap_store), "--config", str(cfg), *small,
                      "--methods", "none", "--baselines", "deepconvnet",
                      "--out", str(tmp_path / "run")], capsys)
    assert code == 0, cap.err
    assert "leave-one-subject-out" in (tmp_path / "run" / "report.md").read_text()


def test_paper_config_resolves_to_the_documented_values(capsys):
    """examples/deap_paper.toml with --methods emotionkd gives exactly the configuration that
    docs/reproducing.md shows (but for the methods) and the values its prose promises."""
    from emotionkd.config import tomllib  # tomli on Python 3.10

    code, cap = _run(["evaluate", "--config", str(ROOT / "examples" / "deap_paper.toml"),
                      "--methods", "emotionkd", "--print-config"], capsys)
    assert code == 0, cap.err
    doc = (ROOT / "docs" / "reproducing.md").read_text()
    shown = re.search(r"--print-config -->\n```toml\n(.*?)```", doc, re.S).group(1)
    assert cap.out == shown.replace('methods = "emotionkd,kd,none"', 'methods = "emotionkd"')
    cfg = tomllib.loads(cap.out)
    assert cfg["data"] | {"val_fraction": 0.2} == {
        "target": "arousal", "window": 4.0, "step": 4.0, "threshold": 5.0, "tie": "low",
        "eeg_channels": "tsception28", "norm": "subject", "val_fraction": 0.2}
    assert cfg["model"]["size"] == "paper" and cfg["model"]["d_model"] == 64
    assert {k: cfg["train"][k] for k in ("epochs", "batch_size", "lr", "patience", "seed")} == {
        "epochs": 40, "batch_size": 64, "lr": 1e-4, "patience": 8, "seed": 0}
    assert (cfg["train"]["schedule"], cfg["train"]["warmup_epochs"],
            cfg["train"]["label_smoothing"]) == ("constant", 0.0, 0.0)  # the reference's
    assert {k: cfg["distill"][k] for k in ("method", "feedback", "ce_weight", "kl_weight",
                                           "hint_weight", "temperature", "hint_map")} == {
        "method": "emotionkd", "feedback": True, "ce_weight": 1.0, "kl_weight": 0.1,
        "hint_weight": 1.0, "temperature": 1.0, "hint_map": "fold"}
    assert cfg["feedback"]["feedback_warmup"] == 2 and cfg["feedback"]["quiz_fraction"] == 0.2
    assert cfg["evaluate"]["protocol"] == "loso" and cfg["evaluate"]["methods"] == "emotionkd"
    for promise in ("4-s windows", "28 EEG channels", "rating > 5", "up to 40 epochs",
                    "patience 8", "batch 64, Adam 1e-4", "at a constant rate",
                    "without label smoothing", "after 2 warm-up epochs",
                    "20 % of the"):
        assert promise in " ".join(doc.split())


def test_quickstart_example_runs(tmp_path):
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    res = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    assert "windows; a batch: eeg (8, 32, 512)" in res.stdout


def test_own_data_example_runs(tmp_path):
    from emotionkd.store import open_store

    res = subprocess.run([sys.executable, str(ROOT / "examples" / "own_data.py"), "--out",
                          str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "from arrays:" in res.stdout and "from files:" in res.stdout
    assert "from the command line:" in res.stdout and "dataset mylab" in res.stdout
    assert res.stdout.count("threshold 3,") == 3  # the midpoint of 1-5, in every store
    st = open_store(tmp_path / "own-files.h5")
    assert st.rating_names == ["valence", "arousal"] and st.rating_scales == [[1, 5], [1, 5]]


def test_own_data_page_code_runs(tmp_path):
    code, res = run_page_code("own-data.md", tmp_path)
    assert "write_store" in code and "preprocess_files" in code
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "[[1.0, 5.0], [1.0, 5.0]] [30. 30.]"
    assert res.stdout.splitlines()[1].startswith("2 {")



# ---------------------------------------------------------------------------------------------
# README.md, run as written

#: the README's sizes, shrunk for the test suite (a test-only reduction: the README's text is
#: run as written, only these option values are lowered, and these are added, so that every
#: block finishes in seconds; what each command does is unchanged)
README_SCALE = {"--subjects": 3, "--trials": 4, "--seconds": 12, "--epochs": 1}
README_ADD = {"train-teacher": ["--epochs", "1", "--size", "tiny"],
              "distill": ["--epochs", "1", "--feedback-warmup", "0"],
              "evaluate": ["--epochs", "1", "--size", "tiny"], "demo": ["--quick"]}
#: what the user brings to a block: DEAP's own folder, for the blocks that name it
README_BRINGS = {"./data_preprocessed_python": ["synth", "deap", "--out",
                                                "data_preprocessed_python", "--subjects", "3",
                                                "--trials", "4", "--seconds", "12"]}


def _shell_blocks(page: str) -> list[str]:
    return re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", (ROOT / page).read_text(),
                      flags=re.S | re.M)


def _readme_blocks() -> list[str]:
    return _shell_blocks("README.md")


def test_the_docs_getting_started_is_the_readme_pipeline():
    """docs/index.md's getting-started block runs the README's tested commands (and `info`),
    so it works verbatim too."""
    readme = {" ".join(c) for b in _readme_blocks() for c in _readme_commands(b)}
    index = [" ".join(c) for b in _shell_blocks("docs/index.md") for c in _readme_commands(b)]
    others = [c for c in index if c not in readme and not c.startswith("emotionkd info ")]
    assert not others, f"docs/index.md runs commands the README test does not: {others}"
    assert any(c.startswith("emotionkd predict") for c in index)


def _readme_commands(block: str) -> list[list[str]]:
    """The commands of a shell block as the shell splits them: one per line (``\\``
    continues a line), ``&&`` between commands, ``#`` comments dropped."""
    import shlex

    commands: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars="&|;<>")
        lex.whitespace_split, lex.commenting = True, True
        words, current = list(lex), []
        for w in [*words, "&&"]:
            if w == "&&":
                if current:
                    commands.append(current)
                current = []
            elif set(w) <= set("&|;<>"):
                raise AssertionError(f"README.md: the test runs only '&&' chains, not {w!r}: "
                                     f"{line}")
            else:
                current.append(w)
    return commands


def _scaled(args: list[str]) -> list[str]:
    """``emotionkd ARGS`` with the sizes of :data:`README_SCALE` lowered."""
    out = list(args)
    for i, word in enumerate(out[:-1]):
        if word in README_SCALE and float(out[i + 1]) > README_SCALE[word]:
            out[i + 1] = str(README_SCALE[word])
    given = set(out)
    extra = README_ADD.get(out[0], [])
    for i in range(0, len(extra), 2):
        if extra[i] == "--quick" or extra[i] not in given:
            out += extra[i:i + 2]
        elif extra[i] == "--size":
            out[out.index("--size") + 1] = "tiny"
    return out


def _pip_installed(args: list[str]) -> None:
    """``pip install …`` in the README: what it installs is what this test runs in."""
    from importlib import metadata

    assert args[0] == "install", args
    for req in args[1:]:
        if req == "-e":
            continue
        if req.startswith(".["):  # the checkout with its extras
            dist = metadata.distribution("emotionkd")
            assert Path(dist.locate_file("")).exists()
            extras = req[2:-1].split(",")
            for r in dist.requires or []:
                name, _, marker = r.partition(";")
                if any(f'extra == "{e}"' in marker for e in extras):
                    dep = re.split(r"[ <>=!~\[(]", name.strip())[0]
                    metadata.version(dep)  # installed, or PackageNotFoundError
        else:
            name, _, version = req.partition("==")
            assert metadata.version(name).split("+")[0] == version, f"{name} is not {version}"


@pytest.mark.parametrize("block", range(len(_readme_blocks())))
def test_readme_blocks_run_verbatim(block, tmp_path, capsys, monkeypatch):
    """Every shell block of README.md, in an empty folder, command by command: emotionkd
    through its entry point (sizes lowered by README_SCALE), pip checked against this
    installation, pytest as the command .ci/run runs; every --out it names exists after."""
    text = _readme_blocks()[block]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOTIONKD_NO_PROGRESS", "1")
    for brought, setup in README_BRINGS.items():
        if brought in text:
            code, cap = _run(setup, capsys)
            assert code == 0, cap.err
    outs = []
    for args in _readme_commands(text):
        if args[0] == "pip":
            _pip_installed(args[1:])
        elif args[0] == "pytest":
            ci = (ROOT / ".ci" / "run").read_text().splitlines()
            assert " ".join(args) in ci, "README's test command is not what .ci/run runs"
        else:
            assert args[0] == "emotionkd", f"README.md: the test cannot run {args[0]!r}"
            code, cap = _run(_scaled(args[1:]), capsys)
            assert code == 0, f"README.md: {' '.join(args)} failed: {cap.err}"
            outs += [args[i + 1] for i, w in enumerate(args[:-1]) if w == "--out"]
            if args[1] == "demo":
                _check_demo(cap.out, Path("emotionkd-demo") / "run")
            if args[1] == "predict":
                assert "p(high" in cap.out or "window" in cap.out, cap.out
    missing = [o for o in outs if not (tmp_path / o).exists()]
    assert not missing, f"README.md: these outputs were not written: {missing}"

"""The experiment configuration: one name and one default per setting, files and flags mapped
onto it, --print-config round trips, and the registry the commands ask instead of names."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from conftest import run_cli as _cli

from emotionkd.config import (
    COMMAND_TABLES,
    HOME,
    TABLES,
    ExperimentConfig,
    resolve_config,
    settings,
    toml_value,
    tomllib,
)
from emotionkd.errors import ConfigError


def test_every_setting_has_one_name_help_and_a_checked_default():
    assert len(HOME) == sum(len(settings(t)) for t in TABLES)  # no name in two tables
    for table in TABLES:
        for key, f in settings(table).items():
            assert f.metadata["help"].endswith(".") and "[" not in f.metadata["help"], key
            assert f.default is not None or f.metadata["shown"], f"{key}: say what None means"
    ExperimentConfig()  # every default passes its own checks


def test_toml_writer_reads_back():
    values = {"s": 'quote " back\\slash\nnew line ü', "t": True, "f": False, "i": 7, "x": 1e-05,
              "y": 0.1, "z": -3.0, "big": 1e300, "l": ["a", 1, 2.5], "n": math.inf}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
    assert tomllib.loads(text) == values
    assert math.isnan(tomllib.loads(f"v = {toml_value(math.nan)}")["v"])
    with pytest.raises(ConfigError, match="cannot write"):
        toml_value({"a": 1})


@pytest.mark.parametrize("command", sorted(COMMAND_TABLES))
def test_print_config_round_trip(command, tmp_path, capsys):
    """--print-config → --config gives the same resolved values (the printed text is a fixed
    point), for files and flags of every table."""
    src = tmp_path / "src.toml"
    src.write_text('seed = 3\n[data]\nwindow = 2.0\neeg_channels = "tsception28"\n'
                   '[model]\nsize = "tiny"\nd_model = 24\n[distill]\nmethod = "kd"\n'
                   'temperature = 2.0\n[feedback]\nfeedback_warmup = 3\n'
                   '[evaluate]\nprotocol = "kfold"\nk = 4\nseeds = [0, 1]\n')
    flags = {"train-teacher": ["--epochs", "5", "--val-subjects", "1,2"],
             "distill": ["--kl-weight", "0.5", "--no-feedback", "--pilot-lr", "0.02"],
             "evaluate": ["--loso", "--baselines", "none", "--feedback-ablation"]}[command]
    code, cap = _cli([command, "--config", str(src), *flags, "--print-config"], capsys)
    assert code == 0, cap.err
    first = cap.out
    printed = tmp_path / "printed.toml"
    printed.write_text(first)
    code, cap = _cli([command, "--config", str(printed), "--print-config"], capsys)
    assert code == 0, cap.err
    assert cap.out == first
    again = resolve_config(command, config=printed)
    orig = resolve_config(command, config=src, given=None)
    assert set(tomllib.loads(first)) == set(COMMAND_TABLES[command])
    assert again.resolved(command) == tomllib.loads(first)
    if command == "evaluate":
        assert tomllib.loads(first)["evaluate"]["protocol"] == "loso"  # the flag wins
        assert orig.evaluate.protocol == "kfold" and again.evaluate.seed_list(0) == [0, 1]


def test_files_are_checked_whatever_the_command(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text("[evaluate]\nmethods = 'emotionkd,crd'\n")
    code, cap = _cli(["train-teacher", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: methods: unknown crd" in cap.err  # not applied, still checked
    f.write_text("[misc]\nx = 1\n")
    code, cap = _cli(["distill", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: unknown table [misc]; tables: [data], [model]" in cap.err
    f.write_text("[train]\nepochs = 0\n")
    code, cap = _cli(["distill", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: epochs must be a whole number of at least 1" in cap.err
    f.write_text("[model]\nd_model = 'wide'\n")
    code, cap = _cli(["train-teacher", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: model: d_model must be an integer" in cap.err
    f.write_text("epochs = 3\n[train]\nepochs = 4\n")
    with pytest.raises(ConfigError, match="key 'epochs' is set twice"):
        resolve_config("evaluate", config=f)
    f.write_text("[train]\nwarmup_epochs = 9\nepochs = 3\n")
    with pytest.raises(ConfigError, match="c.toml: --warmup-epochs must be between 0 and"):
        resolve_config("train-teacher", config=f)
    with pytest.raises(ConfigError, match=r"no such config file"):
        resolve_config("train-teacher", config=tmp_path / "none.toml")


def test_old_names_and_places_work_with_a_note(tmp_path, capsys):
    f = tmp_path / "old.toml"
    f.write_text("[distill]\nalpha = 0.3\nbeta = 2.0\nwarmup = 4\npilot_lr = 0.05\n"
                 "[train-teacher]\nepochs = 2\n")
    notes: list[str] = []
    cfg = resolve_config("distill", config=f, notes=notes)
    assert (cfg.distill.kl_weight, cfg.distill.hint_weight) == (0.3, 2.0)
    assert cfg.feedback.feedback_warmup == 4 and cfg.feedback.pilot_lr == 0.05
    assert cfg.train.epochs == 20  # [train-teacher] applies to train-teacher only
    assert resolve_config("train-teacher", config=f).train.epochs == 2
    text = " | ".join(notes)
    assert "alpha is deprecated; use kl_weight" in text and "warmup is deprecated" in text
    assert "pilot_lr belongs in [feedback]" in text
    code, cap = _cli(["distill", "--beta", "0.7", "--print-config"], capsys)
    assert code == 0 and "hint_weight = 0.7" in cap.out
    assert "note: --beta is deprecated; use --hint-weight" in cap.err
    code, cap = _cli(["distill", "--beta", "0.7", "--hint-weight", "1", "--print-config"],
                     capsys)
    assert code == 1 and "--beta and --hint-weight are the same setting" in cap.err
    with pytest.warns(DeprecationWarning, match="window_s is deprecated; use window"):
        from emotionkd.api import _config

        assert _config("train-teacher", {"window_s": 2.0}, None).data.window == 2.0


def test_keywords_must_belong_to_the_command():
    with pytest.raises(ConfigError, match=r"unknown option 'kl_weight' \(train-teacher does "
                                          r"not apply \[distill\]\)"):
        resolve_config("train-teacher", {"kl_weight": 0.2})
    with pytest.raises(ConfigError, match="unknown option 'epoch'; known: .*epochs"):
        resolve_config("distill", {"epoch": 1})
    with pytest.raises(ConfigError, match="--norm must be one of subject, train, none"):
        resolve_config("evaluate", {"norm": "global"})


def test_distill_table_applies_to_its_method_only():
    cfg = resolve_config("evaluate", {"kl_weight": 0.3, "temperature": 2.0, "hint_map": "gsr"})
    assert cfg.distill.weights().kl_weight == 0.3  # emotionkd: the table's method
    kd = cfg.distill.weights("kd")
    assert (kd.kl_weight, kd.temperature, kd.hint_map) == (0.9, 4.0, "gsr")  # preset
    assert cfg.distill.feedback_on("evaluate") and cfg.distill.feedback_on("distill")
    kd_cfg = resolve_config("distill", {"method": "kd"})
    assert not kd_cfg.distill.feedback_on("distill") and kd_cfg.distill.feedback_on("evaluate")


def test_eval_config_carries_every_table(tmp_path):
    from emotionkd.evaluation import eval_config

    f = tmp_path / "e.toml"
    f.write_text("[data]\ntarget = 'arousal,valence'\nwindow = 2.0\n[model]\nsize = 'tiny'\n"
                 "[distill]\nkl_weight = 0.25\nstudent_init = 'teacher-gsr'\n"
                 "[feedback]\nfeedback_warmup = 2\nquiz_fraction = 0.3\n"
                 "[evaluate]\nprotocol = 'kfold'\nk = 3\nbaselines = 'none'\nseeds = '4,5'\n")
    ev = eval_config(resolve_config("evaluate", config=f))
    assert ev.targets == ["arousal", "valence"] and ev.data["window_s"] == 2.0
    assert ev.model["d_model"] == 16 and ev.baselines == [] and ev.seeds == [4, 5]
    assert ev.distill["kl_weight"] == 0.25 and ev.distill["student_init"] == "teacher-gsr"
    assert ev.feedback_cfg["feedback_warmup"] == 2 and ev.quiz_fraction == 0.3
    assert (ev.protocol, ev.k, ev.feedback) == ("kfold", 3, True)
    json.dumps(ev.as_dict())
    with pytest.raises(ConfigError, match="choose a protocol"):
        eval_config(ExperimentConfig())


def test_registry_declares_what_models_need_without_torch():
    code = ("import sys\n"
            "from emotionkd.models import registry as r\n"
            "import emotionkd.config, emotionkd.cli\n"
            "print('torch' in sys.modules, r.names_where(role='teacher'), r.distilled_student(),"
            " r.names_where(need='eeg', kind='classical'), r.names_where(baseline=True))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.split("\n")[0] == (
        "False ['emotionnet-teacher', 'concat'] emotionnet-student ['eeg-features', 'eeg-de'] "
        "['concat', 'deepconvnet', 'shallowconvnet', 'eeg-features', 'eeg-de', 'gsr-features', "
        "'gsr-neurokit']")
    from emotionkd.models.registry import build_model, config_for, model_spec

    assert model_spec("gsr-features") | {"description": ""} == {
        "role": "baseline", "inputs": "gsr", "needs": ["gsr"], "kind": "classical",
        "sized": False, "description": ""}
    assert config_for("deepconvnet", 128, 4, 0, {"d_model": 8})["kernel"] == 0  # not sized
    assert config_for("concat", 128, 4, 28, {"d_model": 8})["d_model"] == 8
    with pytest.raises(ConfigError, match="classical baseline, not a neural network"):
        build_model("eeg-features", {})


def test_models_command_lists_the_registry(capsys):
    code, cap = _cli(["models", "--size", "tiny"], capsys)
    assert code == 0
    assert "gsr-features" in cap.out and "gsr, teacher" in cap.out and "–" in cap.out


def _help_text(args: list[str]) -> str:
    """``emotionkd ARGS --help`` as plain text on a wide terminal (typer's CliRunner)."""
    import re

    from typer.testing import CliRunner

    from emotionkd.cli import app

    res = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200",
                                                         "TERMINAL_WIDTH": "200"})
    assert res.exit_code == 0, res.output
    return re.sub(r"\x1b\[[0-9;]*m", "", res.output)


@pytest.mark.parametrize("command, expect", [
    ("train-teacher", {"--epochs": "20", "--patience": "0", "--schedule": "cosine",
                       "--warmup-epochs": "1.0", "--label-smoothing": "0.1", "--window": "4.0",
                       "--norm": "subject", "--size": "paper", "--lr": "0.0001"}),
    ("distill", {"--method": "emotionkd", "--feedback-warmup": "1", "--pilot-lr": "0.01",
                 "--epochs": "20", "--schedule": "cosine", "--hint-map": "fold"}),
    ("evaluate", {"--methods": "emotionkd,none", "--target": "arousal", "--batch-size": "64",
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


def test_train_recipe_is_settable_by_flag_and_file(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text('[train]\nschedule = "constant"\nwarmup_epochs = 0.5\nlabel_smoothing = 0.2\n')
    for command in COMMAND_TABLES:
        cfg = resolve_config(command, config=f).train
        assert (cfg.schedule, cfg.warmup_epochs, cfg.label_smoothing) == ("constant", 0.5, 0.2)
        cfg = resolve_config(command, {"label_smoothing": 0.0, "warmup_epochs": 2.0}, f).train
        assert (cfg.label_smoothing, cfg.warmup_epochs) == (0.0, 2.0)  # flags over the file
    default = ExperimentConfig().train
    assert (default.epochs, default.patience, default.schedule, default.warmup_epochs,
            default.label_smoothing) == (20, 0, "cosine", 1.0, 0.1)
    assert ExperimentConfig().feedback.feedback_warmup == 1  # a separate setting


def test_evaluate_honours_the_distill_and_feedback_tables(deap_store, tmp_path, capsys,
                                                          monkeypatch):
    """A config file's [distill] loss weights and [feedback] reach run.json and the students
    that evaluate trains (the bug: evaluate ignored [distill])."""
    import emotionkd.distill.trainer as trainer

    seen: list[tuple] = []
    real = trainer.fit_student

    def spy(teacher, s_cfg, train, val, tcfg, method, weights, fb, *rest):  # noqa: ANN001
        seen.append((method, weights, fb, tcfg))
        return real(teacher, s_cfg, train, val, tcfg, method, weights, fb, *rest)

    monkeypatch.setattr(trainer, "fit_student", spy)
    f = tmp_path / "e.toml"
    f.write_text("[data]\nwindow = 2.0\nstep = 2.0\n[model]\nsize = 'tiny'\n"
                 "[train]\nepochs = 2\nbatch_size = 16\nlabel_smoothing = 0.0\n"
                 "[distill]\nkl_weight = 0.3\nhint_weight = 0.5\ntemperature = 2.0\n"
                 "[feedback]\nfeedback_warmup = 1\npilot_lr = 0.02\n"
                 "[evaluate]\nprotocol = 'loso'\nmethods = 'emotionkd'\nbaselines = 'none'\n")
    run = tmp_path / "run"
    code, cap = _cli(["evaluate", "--data", str(deap_store), "--config", str(f), "--fold", "0",
                      "--out", str(run)], capsys)
    assert code == 0, cap.err
    recorded = json.loads((run / "run.json").read_text())["config"]
    assert recorded["distill"]["kl_weight"] == 0.3 and recorded["distill"]["temperature"] == 2.0
    assert recorded["feedback_cfg"]["feedback_warmup"] == 1
    assert recorded["feedback_cfg"]["pilot_lr"] == 0.02 and recorded["train"]["epochs"] == 2
    assert recorded["train"]["label_smoothing"] == 0.0
    assert {m for m, *_ in seen} == {"emotionkd"} and len(seen) == 2  # with, without feedback
    for _, weights, _fb, tcfg in seen:
        assert (weights.kl_weight, weights.hint_weight, weights.temperature) == (0.3, 0.5, 2.0)
        assert tcfg.epochs == 2 and tcfg.label_smoothing == 0.0
    fbs = [fb for _, _, fb, _ in seen if fb is not None]
    assert len(fbs) == 1 and (fbs[0].feedback_warmup, fbs[0].pilot_lr) == (1, 0.02)

"""The mgdd command line, run in-process."""

import json

import mgdd
from mgdd.cli import main, parse_options


def test_distill_show_evaluate(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["distill", "--method", "random", "--dataset", "digits", "--ipc", "2", "--out", str(out)]) == 0
    syn = mgdd.SyntheticSet.load(out)
    assert len(syn) == 20 and syn.metadata["dataset"] == "digits"
    assert (out / "grid.png").exists()

    png = tmp_path / "grid.png"
    assert main(["show", str(out), "--png", str(png)]) == 0
    shown = capsys.readouterr().out
    assert "method='random'" in shown and png.exists()
    assert "pixel range: 0.000 to 1.000" in shown and "0.0 % of pixels outside" in shown  # real digits

    report = tmp_path / "eval.json"
    args = ["evaluate", str(out), "--epochs", "2", "--models", "2", "--arch", "MLP", "--json", str(report)]
    assert main(args) == 0
    assert "MLP:" in capsys.readouterr().out
    saved = json.loads(report.read_text())
    assert len(saved["MLP"]["accuracies"]) == 2 and saved["MLP"]["epochs"] == 2


def test_method_options_are_passed_through(tmp_path):
    out = tmp_path / "herd"
    args = ["distill", "--method", "herding", "--dataset", "digits", "--ipc", "1", "--out", str(out),
            "--option", "feature_epochs=0"]
    assert main(args) == 0
    assert mgdd.SyntheticSet.load(out).metadata["options"]["feature_epochs"] == 0


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["distill", "--method", "nope", "--dataset", "digits", "--ipc", "1", "--out", str(tmp_path)]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    assert main(["distill", "--method", "dm", "--dataset", "digits", "--ipc", "0", "--out", str(tmp_path)]) == 2
    assert "must be >= 1" in capsys.readouterr().err
    assert main(["distill", "--method", "random", "--dataset", "nope", "--ipc", "1", "--out", str(tmp_path)]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def test_parse_options():
    assert parse_options(["lr=0.1", "arch=ConvNet", "steps=[1, 2]"]) == {"lr": 0.1, "arch": "ConvNet", "steps": [1, 2]}


def test_experts_then_mtt_from_the_command_line(tmp_path, capsys):
    buffer = tmp_path / "experts"
    assert main(["experts", "--dataset", "digits", "--experts", "1", "--epochs", "3", "--per-class", "20",
                 "--out", str(buffer)]) == 0
    assert "1 experts of 3 epochs" in capsys.readouterr().out
    out = tmp_path / "mtt"
    assert main(["distill", "--method", "mtt", "--dataset", "digits", "--ipc", "1", "--out", str(out),
                 "--option", f"experts={buffer}", "--option", "iterations=2", "--option", "max_start_epoch=1",
                 "--option", "progress=false"]) == 0
    syn = mgdd.SyntheticSet.load(out)
    assert syn.metadata["method"] == "mtt" and syn.learned_lr > 0 and syn.metadata["iteration"] == 2
    # a buffer that cannot serve the options is reported, not raised
    assert main(["distill", "--method", "mtt", "--dataset", "digits", "--ipc", "1", "--out", str(out), "--overwrite",
                 "--option", f"experts={buffer}", "--option", "max_start_epoch=5"]) == 2
    assert "exceeds the 3 epochs" in capsys.readouterr().err


def test_seqmatch_and_its_curriculum_evaluation_from_the_command_line(tmp_path, capsys):
    buffer = tmp_path / "experts"
    assert main(["experts", "--dataset", "digits", "--experts", "1", "--epochs", "2", "--per-class", "20",
                 "--out", str(buffer)]) == 0
    out = tmp_path / "seqmatch"
    options = ["experts=" + str(buffer), "sizes=[1,1]", "iterations=1", "syn_steps=2", "max_start_epoch=1",
               "expert_epochs=1", "pretrain_epochs=1", "progress=false"]
    assert main(["distill", "--method", "seqmatch", "--dataset", "digits", "--ipc", "2", "--out", str(out),
                 *[arg for option in options for arg in ("--option", option)]]) == 0
    syn = mgdd.SyntheticSet.load(out)
    assert syn.metadata["method"] == "seqmatch" and syn.metadata["subsets"] == [1, 1]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--models", "1", "--epochs", "1", "--curriculum"]) == 0
    assert "ConvNet" in capsys.readouterr().out


def test_arguments_are_checked_before_any_work(tmp_path, capsys, monkeypatch):
    import mgdd.data

    def no_loading(*args, **kwargs):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr(mgdd.data, "load_dataset", no_loading)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    base = ["distill", "--method", "random", "--dataset", "digits", "--ipc", "1"]
    assert main([*base, "--out", str(a_file)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "o"), "--option", "foo"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "o"), "--option", "nope=1"]) == 2
    assert "unknown option" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "o"), "--evaluate", "--arch", "ConvNetX9"]) == 2
    assert "unknown network" in capsys.readouterr().err


def test_ctrl_c_says_what_is_true_of_the_snapshot_folder_and_exits_130(tmp_path, capsys, monkeypatch):
    import mgdd.methods

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mgdd.methods, "distill", interrupted)
    args = ["distill", "--method", "dm", "--dataset", "digits", "--ipc", "1", "--out", str(tmp_path / "o"),
            "--option", f"snapshot_dir={tmp_path / 'snap'}"]
    assert main(args) == 130  # before the first snapshot: nothing to resume, and it says so
    err = capsys.readouterr().err
    assert "interrupted" in err and "No snapshot was written yet" in err and "again to resume" not in err
    assert "Traceback" not in err
    monkeypatch.undo()
    assert main([*args, "--option", "iterations=2", "--option", "snapshot_every=1"]) == 0  # writes a snapshot
    monkeypatch.setattr(mgdd.methods, "distill", interrupted)
    assert main([*args, "--overwrite"]) == 130
    err = capsys.readouterr().err
    assert f"The last snapshot is in {tmp_path / 'snap'}" in err and "again to resume" in err


def test_an_existing_set_is_not_overwritten_without_overwrite(tmp_path, capsys):
    out = tmp_path / "set"
    base = ["distill", "--method", "random", "--dataset", "digits", "--ipc", "1", "--out", str(out)]
    assert main(base) == 0
    before = (out / "synthetic.safetensors").read_bytes()
    assert main([*base, "--seed", "1"]) == 2
    assert "already holds a synthetic set; pass --overwrite" in capsys.readouterr().err
    assert (out / "synthetic.safetensors").read_bytes() == before
    assert main([*base, "--seed", "1", "--overwrite"]) == 0
    assert (out / "synthetic.safetensors").read_bytes() != before


def test_help_lists_every_registered_method_and_the_defaults():
    import re

    from mgdd.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    text = commands["distill"].format_help()
    listed = set(re.findall(r"[a-z0-9]+", text.split("registered method:")[1].split("(docs")[0]))
    assert listed == set(mgdd.available_methods())
    from mgdd.cli import METHODS

    assert set(METHODS) == set(mgdd.available_methods())
    evaluate_help = " ".join(commands["evaluate"].format_help().split())
    assert "5 models x 1000 epochs" in evaluate_help and "(default: field)" in evaluate_help  # the presets
    assert "(default: None)" not in evaluate_help and "fmnist" in " ".join(text.split())  # aliases listed


def test_quick_protocol_is_labelled_in_the_output_and_the_json(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["distill", "--method", "random", "--dataset", "digits", "--ipc", "1", "--out", str(out)]) == 0
    report = tmp_path / "quick.json"
    assert main(["evaluate", str(out), "--protocol", "quick", "--epochs", "100", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "1 model x 100 epochs" in printed and "quick look, not the published protocol" in printed
    assert "(1 model, 100 epochs" in printed  # EvalResult's own line, singular
    saved = json.loads(report.read_text())["ConvNet"]
    assert saved["epochs"] == 100 and len(saved["accuracies"]) == 1
    assert saved["extra"]["protocol"] == "quick look, not the published protocol"

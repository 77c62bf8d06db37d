"""The command line: every verb is listed, and user errors exit 2 with a one-line message."""

import logging
import subprocess
import sys

import pytest

from handkit.cli import build_parser, main


def test_every_verb_is_registered():
    verbs = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"synth", "mine", "pretrain", "export-encoder", "finetune", "evaluate", "predict",
            "export", "pack", "demo", "train", "masks", "pred-json", "detect2d"} <= verbs


@pytest.mark.parametrize("argv,message", [
    (["pretrain", "--set", "stepz=1"], "unknown key(s) ['stepz']"),
    (["pretrain", "--set", "method"], "KEY=VALUE"),
    (["finetune", "--set", "data.label_fraction=abc"], "data.label_fraction: expected float"),
    (["pretrain", "--data", "/no/such/dir", "--out", "/tmp/hk_cli_test"], "does not exist"),
    (["finetune", "--set", "trainer.max_epochs=-1"], "trainer.max_epochs: expected >= 1"),
    (["finetune", "--set", "trainer.limit_train_batches=0"],
     "trainer.limit_train_batches: expected > 0"),
])
def test_user_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "--data", "d", "--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
    (["evaluate", "--data", "d", "--limit", "0"], "argument --limit: must be >= 1, got 0"),
    (["pack", "--data", "d", "--format", "f", "--out", "o", "--quality", "0"],
     "argument --quality: must be between 1 and 100, got 0"),
    (["pack", "--data", "d", "--format", "f", "--out", "o", "--quality", "200"],
     "argument --quality: must be between 1 and 100, got 200"),
    (["pack", "--data", "d", "--format", "f", "--out", "o", "--workers", "-1"],
     "argument --workers: must be >= 0, got -1"),
    (["mine", "--crops", "c", "--out", "o", "--window", "-1"], "argument --window: must be >= 0"),
    (["mine", "--crops", "c", "--out", "o", "--min-confidence", "1.5"],
     "argument --min-confidence: must be between 0 and 1"),
    (["predict", "x.jpg", "--box", "nan", "0", "1", "1"],
     "argument --box: expected a finite number, got 'nan'"),
    (["synth", "freihand", "--out", "o", "--n", "ten"], "argument --n: expected an integer"),
    (["synth", "multihand", "--out", "o", "--n", "2", "--hands", "two"],
     "argument --hands: expected a count (3) or a range (1-4), got 'two'"),
    (["synth", "multihand", "--out", "o", "--n", "2", "--hands", "1-2-3"],
     "argument --hands: expected a count (3) or a range (1-4)"),
])
def test_bad_values_are_refused_at_the_command_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("verb,flags", [
    ("mine", ["--scale-by", "--rotation", "--index", "--k", "--pca-dim"]),
    ("pack", ["--shard-size", "--codec", "--quality", "--workers"]),
])
def test_every_option_with_a_default_shows_it(verb, flags, capsys):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # unwrap argparse's line breaks
    parser = build_parser()._subparsers._group_actions[0].choices[verb]
    actions = {a.option_strings[-1]: a for a in parser._actions if a.option_strings}
    for flag in flags:
        assert f"(default {actions[flag].default})" in text, flag


def test_unknown_dataset_options_and_folder_outputs_are_one_line_errors(tmp_path, capsys):
    data = tmp_path / "fh"
    assert main(["synth", "freihand", "--out", str(data), "--n", "2", "--size", "32",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["pack", "--data", str(data), "--format", "freihand", "--out",
                 str(tmp_path / "shards"), "--option", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown option(s) ['bogus']; it takes [" in err and err.count("\n") == 1
    assert main(["synth", "freihand", "--out", str(data), "--n", "2", "--size", "32", "--quiet",
                 "--preview", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: is a folder" in err and err.count("\n") == 1


def test_lightning_banners_are_quiet_unless_verbose():
    code = ("import logging, handkit.cli as c; {call}import lightning.pytorch; "
            "print(logging.getLogger('lightning.pytorch.utilities.rank_zero')"
            ".getEffectiveLevel())")
    levels = [subprocess.run([sys.executable, "-c", code.format(call=call)], capture_output=True,
                             text=True, check=True).stdout.split()[-1]
              for call in ("c._quiet_lightning(); ", "")]
    assert levels == [str(logging.WARNING), str(logging.INFO)]


def test_train_mano_flag_sets_the_model_option(tmp_path, capsys):
    from handkit.commands.train import mano_flags
    from handkit.tasks.registry import get_task
    from handkit.utils.config import load_config

    assert mano_flags(None) == {}
    cfg = load_config(get_task("s2hand").config, None, [], mano_flags(str(tmp_path)))
    assert cfg.model.options["mano_dir"] == str(tmp_path)
    assert main(["train", "s2hand", "--mano", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "--mano=" in err and "not a folder" in err and err.count("\n") == 1

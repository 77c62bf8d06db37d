"""The command line: every verb is listed, and user errors exit 2 with a one-line message."""

import pytest

from handkit.cli import build_parser, main


def test_every_verb_is_registered():
    verbs = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"synth", "mine", "pretrain", "export-encoder", "finetune", "evaluate", "predict",
            "export", "pack", "demo"} <= verbs


@pytest.mark.parametrize("argv,message", [
    (["pretrain", "--set", "stepz=1"], "unknown key(s) ['stepz']"),
    (["pretrain", "--set", "method"], "KEY=VALUE"),
    (["finetune", "--set", "data.label_fraction=abc"], "data.label_fraction: expected float"),
    (["pretrain", "--data", "/no/such/dir", "--out", "/tmp/hk_cli_test"], "does not exist"),
])
def test_user_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err

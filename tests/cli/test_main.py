from animatex.cli import build_parser, main


def test_help_lists_subcommands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: animatex" in out
    for action in build_parser()._subparsers._group_actions:
        for name in action.choices:
            assert name in out

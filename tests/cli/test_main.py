

def test_help_imports_no_torch_stack():
    # `animatex --help` (and each command's --help) must stay fast: the library loads in the handlers.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from animatex.cli import build_parser\n"
        "parser = build_parser()\n"
        "for name in parser._subparsers._group_actions[0].choices:\n"
        "    try:\n"
        "        parser.parse_args([name, '--help'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, name\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'cv2') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout

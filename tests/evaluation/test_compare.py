import json
import math

import pytest

from animatex.cli import main
from animatex.evaluation.compare import compare_runs, comparison_table, load_cases, paired_difference


def _report(folder, cases: dict[str, dict], failed: tuple[str, ...] = ()):
    folder.mkdir(parents=True)
    rows = [{"name": n, "status": "ok", "seconds": 1.0, "metrics": m} for n, m in cases.items()]
    rows += [{"name": n, "status": "failed", "seconds": 1.0, "error": "boom"} for n in failed]
    (folder / "results.json").write_text(json.dumps({"method": "m", "cases": rows}))
    return folder


def test_paired_difference_by_hand(tmp_path):
    base = _report(tmp_path / "base", {"a": {"fg_psnr": 10.0, "l1": 0.2}, "b": {"fg_psnr": 12.0, "l1": 0.1},
                                       "c": {"fg_psnr": 14.0, "l1": None}})  # fmt: skip
    run = _report(tmp_path / "run", {"a": {"fg_psnr": 11.0, "l1": 0.1}, "b": {"fg_psnr": 15.0, "l1": 0.3},
                                     "c": {"fg_psnr": 13.0, "l1": 0.1}, "d": {"fg_psnr": 99.0, "l1": 0.0}},
                  failed=("e",))  # fmt: skip
    psnr, l1 = compare_runs(base, [run], ("fg_psnr", "l1"))
    # fg_psnr over a, b, c (d is not in the base): differences +1, +3, -1 -> mean 1, sd 2, s.e. 2 / sqrt(3)
    assert (psnr.cases, psnr.base_mean, psnr.run_mean, psnr.diff_mean) == (3, 12.0, 13.0, 1.0)
    assert psnr.diff_se == pytest.approx(2 / math.sqrt(3)) and psnr.run_better == 2
    # l1 over a and b only (c has no base value); lower is better: -0.1 wins, +0.2 loses
    assert l1.cases == 2 and l1.diff_mean == pytest.approx(0.05) and l1.run_better == 1
    table = comparison_table([psnr, l1], "base")
    assert "| run | fg_psnr ↑ | 12 | 13 | +1 (1.2) | 2/3 |" in table and "| run | l1 ↓ |" in table


def test_compare_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="animatex bench --out"):
        load_cases(tmp_path / "nothing")
    base = load_cases(_report(tmp_path / "base", {"a": {"fg_psnr": 1.0}}))
    other = load_cases(_report(tmp_path / "other", {"z": {"fg_psnr": 1.0}}))
    with pytest.raises(ValueError, match="no case with a fg_psnr value in common"):
        paired_difference(base, other, "fg_psnr")
    with pytest.raises(ValueError, match="unknown metric 'psnr'"):
        paired_difference(base, base, "psnr")


def test_compare_cli_prints_writes_and_does_not_overwrite(tmp_path, capsys):
    base = _report(tmp_path / "full", {"a": {"fg_psnr": 10.0}, "b": {"fg_psnr": 12.0}})
    run = _report(tmp_path / "no-epi", {"a": {"fg_psnr": 10.5}, "b": {"fg_psnr": 11.0}})
    out = tmp_path / "compare.md"
    args = ["compare", str(base), str(run), "--metrics", "fg_psnr", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| no-epi | fg_psnr ↑ | 11 | 10.75 | -0.25 (0.75) | 1/2 |" in printed
    assert out.read_text() in printed
    assert main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0

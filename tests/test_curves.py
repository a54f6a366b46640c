"""``vqnat curves``: fairseq log parsing and the PNG, through the CLI."""
from click.testing import CliRunner

from vqnat.training_curves import CurveError, parse_fairseq_log
from vqnat_cli.main import cli

LOG = """\
2026-11-24 04:00:00,001 | INFO | fairseq_cli.train | Start iterating over samples
2026-11-24 04:01:00,002 | INFO | train_inner | epoch 001:     25 / 319 loss=9.5, nll_loss=8.25, codebook_usage=0.5, ppl=304.4, num_updates=25, lr=6.2e-05
/site-packages/torch/nn/functional.py:6802: UserWarning: something
2026-11-24 04:02:30,003 | INFO | train_inner | epoch 001:     50 / 319 loss=8.5, nll_loss=7.5, codebook_usage=0.25, ppl=181.0, num_updates=50, lr=1.2e-04
2026-11-24 04:03:00,004 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 8.1 | nll_loss 7.25 | ppl 152.2 | num_updates 50 | best_loss 8.1
"""


def test_parse_reads_train_and_valid_records_with_minutes(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    curve = parse_fairseq_log(log)
    assert [r["num_updates"] for r in curve.train] == [25, 50]
    assert [r["nll_loss"] for r in curve.train] == [8.25, 7.5]
    assert curve.train[1]["codebook_usage"] == 0.25
    assert curve.train[1]["lr"] == 1.2e-04
    assert curve.valid == [{"loss": 8.1, "nll_loss": 7.25, "ppl": 152.2, "num_updates": 50.0, "best_loss": 8.1,
                            "minutes": 3.0}]
    assert curve.train[0]["minutes"] == 1.0


def test_log_without_records_is_an_error_naming_the_file(tmp_path):
    log = tmp_path / "empty.log"
    log.write_text("nothing to see\n")
    try:
        parse_fairseq_log(log)
    except CurveError as error:
        assert str(log) in str(error)
    else:
        raise AssertionError("no error")


def test_cli_writes_png_and_rejects_bad_arguments(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    out = tmp_path / "plots" / "curves.png"
    runner = CliRunner()
    result = runner.invoke(cli, ["curves", f"vqnat={log}", f"again={log}", "--x", "minutes", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(out.parent.iterdir()) == [out]

    result = runner.invoke(cli, ["curves", str(log), "--out", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and "is not NAME=LOG" in result.output
    result = runner.invoke(cli, ["curves", f"a={tmp_path / 'missing.log'}"])
    assert result.exit_code != 0 and "missing.log not found" in result.output
    (tmp_path / "empty.log").write_text("no records\n")
    result = runner.invoke(cli, ["curves", f"a={tmp_path / 'empty.log'}", "--out", str(tmp_path / "y.png")])
    assert result.exit_code == 1 and "no train_inner or valid lines" in result.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()

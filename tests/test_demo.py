"""``vqnat demo`` on 20 sentences and 2 updates per model: a line as each stage starts and ends, every stage's
log on disk (fairseq's, the commands' own output, the bench's child processes), and the closing summary."""
import re

import pytest
from click.testing import CliRunner

from vqnat.training_curves import parse_fairseq_log
from vqnat_cli.main import cli

pytestmark = pytest.mark.slow

STAGES = ["preprocess", "teacher", "distil", "vqnat", "translate", "bench"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo's work folder and the lines it printed on stdout (progress bars go to stderr)."""
    work = tmp_path_factory.mktemp("demo") / "run"
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(work), "--sentences", "20", "--teacher-updates", "2",
                                      "--vqnat-updates", "2"])
    assert result.exit_code == 0, result.output
    return work, result.stdout.splitlines()


def test_each_stage_prints_a_line_as_it_starts_and_ends_and_logs_to_its_own_file(demo_run):
    work, lines = demo_run
    for number, name in enumerate(STAGES, 1):
        start, end = [line for line in lines if line.startswith(f"[{number}/6] ")]
        log = work / "logs" / f"{name}.log"
        assert start.endswith(f"(log: {log})")
        assert re.fullmatch(rf"\[{number}/6\] .+ \.\.\. .+, (\d+ min )?\d+ s", end), end
        assert log.stat().st_size > 0
    assert "20 / 20 / 20 sentence pairs" in lines[1]
    assert "2 updates, valid loss" in lines[3] and "20 sentences" in lines[5]


def test_what_the_stages_print_goes_to_their_logs_not_to_the_terminal(demo_run):
    work, lines = demo_run
    logs = {name: (work / "logs" / f"{name}.log").read_text(encoding="utf-8") for name in STAGES}
    assert f"checkpoint: {work / 'teacher' / 'checkpoint_last.pt'}" in logs["teacher"]  # `vqnat train`'s own line
    assert parse_fairseq_log(work / "logs" / "vqnat.log").valid  # what `vqnat curves` plots
    assert "BLEU = " in logs["translate"]
    assert "| System |" in logs["bench"]  # the bench's markdown table
    assert "fairseq.tasks.translation" in logs["bench"]  # logged by the processes the bench starts
    printed = "\n".join(lines)
    for line in ("checkpoint: ", "BLEU = ", "| System |", "| INFO |"):
        assert line not in printed
    assert len(lines) < 60


def test_the_summary_shows_the_bench_examples_and_where_everything_is(demo_run):
    work, lines = demo_run
    header = next(index for index, line in enumerate(lines) if line.split()[:3] == ["system", "updates", "BLEU"])
    rows = [line.split() for line in lines[header + 1:header + 4]]
    assert [row[:2] for row in rows] == [["ar-beam4", "2"], ["ar-greedy", "2"], ["vqnat-parallel", "2"]]
    assert rows[2][2:4] == ["+", "2"]  # updates: the teacher's + its own
    labels = [line.split()[0] for line in lines[header + 4:] if line.startswith("  ") and not line.startswith("   ")]
    assert labels[:12] == ["source", "reference", "teacher", "vqnat"] * 3
    printed = "\n".join(lines)
    for artifact in (work / "bench" / "bench.png", work / "bench" / "bench.md", work / "vqnat" / "checkpoint_last.pt",
                     work / "teacher.test.es", work / "vqnat.test.es"):
        assert artifact.is_file() and str(artifact) in printed

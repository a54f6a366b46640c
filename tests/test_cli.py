"""The `vqnat` command line: help everywhere, fast start-up, flags reaching fairseq, train -> generate."""
import subprocess
import sys

import click
import pytest
import torch
from click.testing import CliRunner

from vqnat_cli.main import cli


def all_commands(group=cli, path=()):
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*path, name))


@pytest.mark.parametrize("path", list(all_commands()), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_does_not_import_fairseq():
    code = "import sys; from vqnat_cli.main import cli; print('fairseq' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_version_names_vqnat_and_its_libraries():
    import vqnat
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"vqnat {vqnat.__version__} (fairseq-fixed ")
    assert f"torch {torch.__version__.split('+')[0]}" in result.output
    code = ("import sys; from vqnat_cli.main import cli; cli(['--version'], standalone_mode=False); "
            "print('fairseq' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].startswith("vqnat ") and out.splitlines()[1].split() == ["False", "False"]


def test_unknown_preset_is_a_usage_error(toy_data, tmp_path):
    result = CliRunner().invoke(cli, ["train", "teacher", str(toy_data), "--save-dir", str(tmp_path / "t"),
                                      "--preset", "huge"])
    assert result.exit_code == 2
    assert "--preset" in result.output


def test_misspelled_fairseq_flag_is_refused_by_fairseq(toy_data, tmp_path):
    result = CliRunner().invoke(cli, ["train", "teacher", str(toy_data), "--save-dir", str(tmp_path / "t"),
                                      "--preset", "tiny", "--", "--max-tokenz", "100"])
    assert result.exit_code != 0
    assert not (tmp_path / "t" / "checkpoint_last.pt").exists()


def test_missing_data_directory_names_it(tmp_path):
    result = CliRunner().invoke(cli, ["train", "vqnat", str(tmp_path / "nope"), "--save-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "nope" in result.output


@pytest.mark.parametrize("state", [{"model": {}}, {"optimizer_history": []}, {"optimizer_history": ["x"]}])
def test_a_last_checkpoint_without_training_state_is_refused_with_one_line(toy_data, tmp_path, state):
    torch.save(state, tmp_path / "checkpoint_last.pt")
    result = CliRunner().invoke(cli, ["train", "teacher", str(toy_data), "--save-dir", str(tmp_path),
                                      "--preset", "tiny"])
    assert result.exit_code == 1
    assert "holds no fairseq training state to resume from (move it away" in result.output
    assert "Traceback" not in result.output


def generate(data, checkpoint, *extra):
    return CliRunner().invoke(
        cli, ["generate", "--data", str(data), "--checkpoint", str(checkpoint), *extra])


def test_generate_writes_one_line_per_input_in_order(toy_data, tiny_teacher, tmp_path):
    batched, single = tmp_path / "batched.txt", tmp_path / "single.txt"
    first = generate(toy_data, tiny_teacher, "--beam", "1", "--output", str(batched))
    assert first.exit_code == 0, first.output
    assert "BLEU = " in first.output and "tok:13a" in first.output
    second = generate(toy_data, tiny_teacher, "--beam", "1", "--batch-size", "1", "--output", str(single))
    assert second.exit_code == 0, second.output
    references = (toy_data / "raw" / "test.tgt").read_text(encoding="utf-8").splitlines()
    assert len(batched.read_text(encoding="utf-8").splitlines()) == len(references)
    assert batched.read_text(encoding="utf-8") == single.read_text(encoding="utf-8")


def test_generate_reads_raw_lines_from_stdin(toy_data, tiny_teacher, toy_raw):
    sources = (toy_raw / "test.src").read_text(encoding="utf-8").splitlines()[:5]
    result = CliRunner().invoke(
        cli, ["generate", "--data", str(toy_data), "--checkpoint", str(tiny_teacher), "--beam", "1",
              "--input", "-", "--output", "-"], input="\n".join(sources) + "\n")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5


def test_generate_refuses_a_corrupt_checkpoint(toy_data, tiny_teacher, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(tiny_teacher.read_bytes()[:1000])
    result = generate(toy_data, broken)
    assert result.exit_code == 1
    assert "broken.pt" in result.stderr


def test_checkpoints_hold_only_allow_listed_globals(tiny_teacher):
    from vqnat.compat import CHECKPOINT_SAFE_GLOBALS

    allowed = {f"{kind.__module__}.{kind.__qualname__}" for kind in CHECKPOINT_SAFE_GLOBALS}
    assert set(torch.serialization.get_unsafe_globals_in_checkpoint(str(tiny_teacher))) <= allowed


def test_fairseq_generate_loads_with_the_plugin(toy_data, tiny_teacher):
    from vqnat_cli.fairseq_bridge import user_dir

    command = [sys.executable, "-m", "fairseq_cli.generate", str(toy_data), "--path", str(tiny_teacher),
               "--user-dir", user_dir(), "--gen-subset", "valid", "--beam", "1", "--max-sentences", "50", "--cpu",
               # fairseq drops the last batch when it is cut to a multiple of 8 (50 -> 48, 48, lost 4)
               "--required-batch-size-multiple", "1"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sum(line.startswith("H-") for line in result.stdout.splitlines()) == 100


def test_training_resumes_from_the_last_checkpoint(toy_data, tmp_path):
    arguments = ["train", "teacher", str(toy_data), "--save-dir", str(tmp_path), "--preset", "tiny"]
    assert CliRunner().invoke(cli, [*arguments, "--max-update", "20"]).exit_code == 0
    resumed = CliRunner().invoke(cli, [*arguments, "--max-update", "30"])
    assert resumed.exit_code == 0, resumed.output
    import vqnat  # noqa: F401  (allow-lists the checkpoint types)

    state = torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)
    assert state["optimizer_history"][-1]["num_updates"] == 30

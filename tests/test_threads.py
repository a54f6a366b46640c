"""Threads per process: the cores shared among a command's processes, set where the work runs."""
import pytest
import torch
from click.testing import CliRunner

from vqnat import threads
from vqnat_cli.main import cli


@pytest.mark.parametrize("cores,processes,expected", [(8, 1, 8), (8, 2, 4), (8, 3, 2), (2, 2, 1), (1, 2, 1)])
def test_threads_per_process_divides_the_cores_and_never_gives_zero(monkeypatch, cores, processes, expected):
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    assert threads.threads_per_process(processes) == expected


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_generate_runs_with_the_threads_asked_for_and_else_every_core(toy_data, tiny_teacher, restore_threads):
    args = ["generate", "--data", str(toy_data), "--checkpoint", str(tiny_teacher), "--beam", "1",
            "--input", "-", "--output", "-"]
    cores = threads.threads_per_process()
    for extra, expected in (([], cores), (["--threads", str(cores + 1)], cores + 1)):
        torch.set_num_threads(cores + 2)
        result = CliRunner().invoke(cli, [*args, *extra], input="a b c\n")
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == expected

"""Two gloo workers on CPU train one vqnat model: every worker ends with the same parameters and codebook."""
import multiprocessing
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from vqnat_cli.fairseq_bridge import _free_port, cpu_worker_args, run_fairseq_train
from vqnat_cli.main import cli
from vqnat_cli.train import build_argv

UPDATES = 6


def train_and_dump_state(argv, rank, out):
    """Train as one rank, saving this rank's model state whenever fairseq saves a checkpoint."""
    from fairseq import checkpoint_utils

    original = checkpoint_utils.save_checkpoint

    def save_every_rank(cfg, trainer, epoch_itr, val_loss):
        state = {name: tensor.detach().cpu().clone() for name, tensor in trainer.model.state_dict().items()}
        torch.save({"num_updates": trainer.get_num_updates(), "state": state}, Path(out, f"rank{rank}.pt"))
        return original(cfg, trainer, epoch_itr, val_loss)

    checkpoint_utils.save_checkpoint = save_every_rank
    run_fairseq_train(argv)


@pytest.mark.slow
@pytest.mark.parametrize("bottleneck,model_args", [
    ("ema", []), ("soft_em", []),
    ("soft_em", ["--latent-predictor", "parallel", "--compress", "0", "--glance-ratio", "0.5", "--code-mix-prob", "0.5"]),
])
def test_two_gloo_workers_hold_identical_models(toy_data, tmp_path, bottleneck, model_args):
    from vqnat.presets import vqnat_args

    argv = build_argv(str(toy_data), str(tmp_path / "ckpt"), "tiny", UPDATES, 1,
                      [*vqnat_args("tiny"), "--bottleneck", bottleneck, *model_args], ["--max-tokens", "512"])
    port = _free_port()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=train_and_dump_state,
                               args=([*argv, *cpu_worker_args(2, rank, port)], rank, str(tmp_path)))
               for rank in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    assert [worker.exitcode for worker in workers] == [0, 0]

    dumps = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    assert [dump["num_updates"] for dump in dumps] == [UPDATES, UPDATES]  # it really trained
    first, second = (dump["state"] for dump in dumps)
    assert first.keys() == second.keys()
    codebooks = [name for name in first if "codebook" in name]
    assert codebooks, "the bottleneck's codebook is not in the model state"
    for name in first:
        assert torch.equal(first[name], second[name]), f"{name} differs between the workers"


@pytest.mark.slow
def test_cli_nproc_two_trains_and_saves(toy_data, tmp_path, capfd):
    from vqnat.threads import threads_per_process

    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset",
                                      "tiny", "--bottleneck", "ema", "--max-update", "4", "--nproc", "2",
                                      "--", "--max-tokens", "512"])
    assert result.exit_code == 0, result.output
    # each worker process runs its share of the cores (the workers log to the inherited stdout)
    assert capfd.readouterr().out.count(f"| {threads_per_process(2)} torch thread(s) in this process") == 2
    import vqnat  # noqa: F401  (allow-lists the checkpoint types)

    state = torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)
    assert state["optimizer_history"][-1]["num_updates"] == 4

"""What vqnat drops from fairseq's output, only while it runs fairseq: the noise goes, metric lines stay."""
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from vqnat_cli.fairseq_noise import fairseq_noise_dropped

PIN_MEMORY = "'pin_memory' argument is set as true but no accelerator is found, then device pinned memory won't be used"


def record(name: str, message) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


def passed(records):
    """The records that the noisy fairseq loggers would let through inside the block."""
    with fairseq_noise_dropped():
        return [item for item in records if logging.getLogger(item.name).filter(item)]


def test_the_model_print_absent_biases_and_tensorboard_advice_are_dropped_the_rest_kept():
    kept = [
        record("fairseq.trainer",
               "detected shared parameter: encoder.embed_tokens.weight <- decoder.output_projection.weight"),
        record("fairseq_cli.train", "num. shared model params: 42,624 (num. trained: 42,624)"),
        record("fairseq.trainer", "Saving checkpoint to save/checkpoint_last.pt"),
    ]
    dropped = [
        record("fairseq_cli.train", torch.nn.Linear(2, 2)),
        record("fairseq.trainer", "detected shared parameter: compressor.0.conv.bias <- compressor.1.conv.bias"),
        record("fairseq.tasks.text_to_speech", "Please install tensorboardX: pip install tensorboardX"),
    ]
    assert passed(kept + dropped) == kept


def test_known_warnings_are_dropped_only_inside_the_block():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fairseq_noise_dropped():
            warnings.warn(PIN_MEMORY, UserWarning)
            warnings.warn("`torch.cuda.amp.autocast(args...)` is deprecated. Please use ...", FutureWarning)
            warnings.warn("a warning of the user's", UserWarning)
        warnings.warn(PIN_MEMORY, UserWarning)
    assert [str(warning.message) for warning in caught] == ["a warning of the user's", PIN_MEMORY]
    assert not logging.getLogger("fairseq.trainer").filters  # the log filters left with the block


@pytest.mark.slow
def test_vqnat_train_keeps_the_metric_lines_and_drops_the_noise(toy_data, tmp_path):
    vqnat = Path(sys.executable).with_name("vqnat")  # the installed command: its own process, warnings unfiltered
    command = [str(vqnat), "train", "vqnat", str(toy_data), "--save-dir", str(tmp_path), "--preset", "tiny",
               "--max-update", "3", "--", "--log-interval", "1"]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "| train_inner | epoch 001:" in log and "num_updates=3" in log
    assert "| valid | epoch 001 |" in log
    for noise in ("VQNATModel(", "tensorboardX", "Warning:", "bias <- ", "pin_memory"):
        assert noise not in log, noise

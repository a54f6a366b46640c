"""How far a vqnat model's codes move while it trains: the codes of one split's targets under each of a
run's checkpoints, compared position by position with the last checkpoint's and with the next one's.

    python examples/code_agreement.py --data DATA --subset valid RUN/checkpoint_2_400.pt ... RUN/checkpoint_last.pt

The latent predictor learns these codes while the compressor and the codebook that make them train too
(BENCHMARKS.md, "The codes move under the latent predictor"). DATA's SUBSET holds the targets: a distilled
directory's ``valid_distilled`` (its teacher's translations) gives the codes the predictor learns.
"""
import argparse
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from fairseq import hub_utils

from vqnat.generation.length_rules import autoencoder_lengths

Codes = Dict[int, List[int]]  # sentence id -> its target's codes


def split_codes(checkpoint: str, data: str, subset: str, max_tokens: int = 6000) -> Codes:
    """Each target's codes under ``checkpoint`` (on the CPU): the nearest codes, the model in evaluation mode.
    ``data``: any data directory of the model's dictionary, a distilled one included."""
    path = Path(checkpoint)
    loaded = hub_utils.from_pretrained(str(path.parent), path.name, str(Path(data).resolve()))
    task, model = loaded["task"], loaded["models"][0].eval()  # evaluation mode: nearest codes, no EM step
    task.load_dataset(subset)
    batches = task.get_batch_iterator(task.dataset(subset), max_tokens=max_tokens, ignore_invalid_inputs=True)
    padding = getattr(task.cfg, "train_padding", "paper")
    codes: Codes = {}
    with torch.no_grad():
        for sample in batches.next_epoch_itr(shuffle=False):
            covered = autoencoder_lengths(padding, sample["net_input"]["src_lengths"], model.compress_steps)
            _, bottleneck, _, mask = model.quantize_target(sample["target"], covered)
            joint = model.bottleneck.join_codes(bottleneck.codes)
            for row, sentence in enumerate(sample["id"].tolist()):
                codes[sentence] = joint[row][mask[row]].tolist()
    return codes


def agreement(codes: Codes, other: Codes) -> float:
    """The share of latent positions whose code is the same in ``codes`` and ``other``."""
    same = total = 0
    for sentence, sequence in codes.items():
        pairs = list(zip(sequence, other[sentence]))
        same += sum(a == b for a, b in pairs)
        total += len(pairs)
    return same / max(total, 1)


def agreement_table(checkpoints: Sequence[str], codes: Sequence[Codes]) -> str:
    """A markdown table: each checkpoint's codes against the last checkpoint's and the next one's."""
    rows = ["| checkpoint | codes as in the last | codes as in the next |", "|---|---:|---:|"]
    for index, (checkpoint, current) in enumerate(zip(checkpoints, codes)):
        following = f"{100 * agreement(current, codes[index + 1]):.1f}%" if index + 1 < len(codes) else "–"
        rows.append(f"| {checkpoint} | {100 * agreement(current, codes[-1]):.1f}% | {following} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="data directory holding SUBSET")
    parser.add_argument("--subset", default="valid", help="split whose targets are coded (default: valid)")
    parser.add_argument("checkpoints", nargs="+", help="a run's checkpoints, oldest first")
    args = parser.parse_args(argv)
    print(agreement_table(args.checkpoints, [split_codes(path, args.data, args.subset) for path in args.checkpoints]))


if __name__ == "__main__":
    main()

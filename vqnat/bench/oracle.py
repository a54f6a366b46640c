"""Where a vqnat model loses BLEU: the decoder given the reference's own codes.

For each test sentence the bottleneck assigns codes to the reference (as in training, without noise) and
the decoder translates from those codes; the latent predictor, fed the reference's earlier codes, is
scored on how often its most likely next code is the reference's. Oracle-code BLEU bounds what a
better latent predictor could reach with this decoder; the gap to the system's BLEU is the latent
predictor's share (with the predicted length's), the gap from oracle-code BLEU to a good AR model the autoencoder's.
"""
from typing import Dict, List, Sequence

import torch
from fairseq import utils

from vqnat.generation.length_rules import autoencoder_lengths


def oracle_code_translations(translator, subset: str, batch_size: int = 64) -> Dict[str, object]:
    """Hypotheses decoded from the reference codes of ``subset`` (input order) and the latent accuracy.

    Returns ``tokens`` (token ids per sentence, EOS removed), ``codes`` (the reference's codes per
    sentence), ``latent_correct`` and ``latents``. Each hypothesis ends at its first EOS or after the
    reference's length, as the generator ends at its length rule's.
    """
    task, model, generator = translator.task, translator.model, translator.generator
    task.load_dataset(subset)
    dataset = task.dataset(subset)
    batches = task.get_batch_iterator(dataset=dataset, max_sentences=batch_size,
                                      max_positions=translator.hub.max_positions, ignore_invalid_inputs=False,
                                      disable_iterator_cache=True).next_epoch_itr(shuffle=False)
    padding = getattr(task.cfg, "train_padding", "paper")
    tokens: List[torch.Tensor] = [None] * len(dataset)
    codes: List[torch.Tensor] = [None] * len(dataset)
    correct = latents = 0
    with torch.inference_mode():
        for batch in batches:
            batch = utils.apply_to_sample(lambda tensor: tensor.to(translator.device), batch)
            net_input, target = batch["net_input"], batch["target"]
            source_lengths = net_input["src_lengths"]
            encoder_out = model.encode(net_input["src_tokens"], source_lengths)
            _, bottleneck, quantized, mask = model.quantize_target(
                target, autoencoder_lengths(padding, source_lengths, model.compress_steps))
            reference_codes = model.bottleneck.join_codes(bottleneck.codes)  # (B, N)
            latent_logits = model.latent_predictor(quantized, mask, encoder_out)
            correct += int(((latent_logits.argmax(-1) == reference_codes) & mask).sum())
            latents += int(mask.sum())
            lprobs = torch.log_softmax(model.decode_codes(reference_codes, mask, encoder_out).float(), dim=-1)
            lprobs[..., [generator.pad, generator.bos]] = float("-inf")
            scores, best = lprobs.max(dim=-1)
            target_lengths = target.ne(generator.pad).sum(1)  # with EOS
            for row, index in enumerate(batch["id"].tolist()):
                sentence_codes = reference_codes[row][mask[row]]
                hypothesis = generator.hypothesis(best[row], scores[row], int(target_lengths[row]), sentence_codes,
                                                  scores.new_zeros(()))
                tokens[index] = hypothesis["tokens"][hypothesis["tokens"] != generator.eos].cpu()
                codes[index] = sentence_codes.cpu()
    return {"tokens": tokens, "codes": codes, "latent_correct": correct, "latents": latents}


def oracle_quality(translator, subset: str, references: Sequence[str]) -> Dict[str, float]:
    """sacreBLEU of the oracle-code translations and the latent predictor's teacher-forced accuracy."""
    from vqnat.scoring import sacrebleu_score

    oracle = oracle_code_translations(translator, subset)
    bleu, _ = sacrebleu_score([translator.detokenize(tokens) for tokens in oracle["tokens"]], references)
    return {"bleu": bleu, "latent_accuracy": oracle["latent_correct"] / max(oracle["latents"], 1)}

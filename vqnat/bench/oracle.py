"""Where a vqnat model loses BLEU: the decoder given the reference's own codes, given random ones, and
given the latent predictor's codes at the reference's length.

For each test sentence the bottleneck assigns codes to the reference (as in training, without noise) and
the decoder translates from those codes; the latent predictor, fed the reference's earlier codes, is
scored on how often its most likely next code is the reference's (the parallel one: its most likely code
at each position, in one pass from the source). Oracle-code BLEU bounds what a
better latent predictor could reach with this decoder; the gap from oracle-code BLEU to a good AR model is
the autoencoder's. The gap from the system's BLEU to oracle-code BLEU has two parts, split by decoding the
latent predictor's own codes (searched as the generator does) for as many latents as the reference has and
ending at the reference's length: what that gains over the system is the predicted length's share, the
rest the codes'. The same decoder given codes drawn uniformly at random (as many, same length) is the
chance level: how much of the system's BLEU its latent predictor earns, and how much the decoder reads
the codes at all.
"""
from typing import Dict, List, Sequence

import torch
from fairseq import utils

from vqnat.generation.latent_search import search_latents
from vqnat.generation.length_rules import autoencoder_lengths


def oracle_code_translations(translator, subset: str, batch_size: int = 64, seed: int = 0) -> Dict[str, object]:
    """Hypotheses decoded from the reference codes of ``subset`` (input order) and the latent accuracy.

    Returns ``tokens`` (token ids per sentence, EOS removed), ``codes`` (the reference's codes per
    sentence), ``random_tokens`` (decoded from uniformly random codes drawn with ``seed``),
    ``reference_length_tokens`` (decoded from the latent predictor's codes, searched with the generator's
    latent beam, as many as the reference has), ``latent_correct`` and ``latents``. Each hypothesis ends at
    its first EOS or after the reference's length, as the generator ends at its length rule's.
    """
    task, model, generator = translator.task, translator.model, translator.generator
    task.load_dataset(subset)
    dataset = task.dataset(subset)
    batches = task.get_batch_iterator(dataset=dataset, max_sentences=batch_size,
                                      max_positions=translator.hub.max_positions, ignore_invalid_inputs=False,
                                      disable_iterator_cache=True).next_epoch_itr(shuffle=False)
    padding = getattr(task.cfg, "train_padding", "paper")
    tokens: List[torch.Tensor] = [None] * len(dataset)
    random_tokens: List[torch.Tensor] = [None] * len(dataset)
    reference_length_tokens: List[torch.Tensor] = [None] * len(dataset)
    codes: List[torch.Tensor] = [None] * len(dataset)
    draws = torch.Generator().manual_seed(seed)
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
            latent_logits = model.latent_logits(quantized, mask, encoder_out)
            correct += int(((latent_logits.argmax(-1) == reference_codes) & mask).sum())
            latents += int(mask.sum())
            random_codes = torch.randint(model.bottleneck.num_codes, reference_codes.shape, generator=draws)
            predicted_codes, _ = search_latents(model, encoder_out, mask.sum(1), generator.latent_beam)
            target_lengths = target.ne(generator.pad).sum(1)  # with EOS
            for decoded, outputs in ((reference_codes, tokens), (random_codes.to(mask.device), random_tokens),
                                     (predicted_codes, reference_length_tokens)):
                lprobs = torch.log_softmax(model.decode_codes(decoded, mask, encoder_out).float(), dim=-1)
                lprobs[..., [generator.pad, generator.bos]] = float("-inf")
                scores, best = lprobs.max(dim=-1)
                for row, index in enumerate(batch["id"].tolist()):
                    hypothesis = generator.hypothesis(best[row], scores[row], int(target_lengths[row]),
                                                      decoded[row][mask[row]], scores.new_zeros(()))
                    outputs[index] = hypothesis["tokens"][hypothesis["tokens"] != generator.eos].cpu()
            for row, index in enumerate(batch["id"].tolist()):
                codes[index] = reference_codes[row][mask[row]].cpu()
    return {"tokens": tokens, "codes": codes, "random_tokens": random_tokens,
            "reference_length_tokens": reference_length_tokens, "latent_correct": correct, "latents": latents}


def best_candidate_translations(translator, subset: str, references: Sequence[str]) -> List[str]:
    """Of each sentence's ranked candidates (lengths x latent beams or sampled code sequences), the one closest to its reference
    by sentence BLEU: the most that any rescoring of these candidates could reach."""
    import sacrebleu

    best: List[str] = [None] * len(references)
    with torch.inference_mode():
        for batch in translator.batches(translator.split_sources(subset)):
            hypotheses = translator.task.inference_step(translator.generator, translator.hub.models, batch)
            for index, candidates in zip(batch["id"].tolist(), hypotheses):
                texts = [translator.detokenize(c["tokens"][c["tokens"] != translator.generator.eos].cpu())
                         for c in candidates]
                best[index] = max(texts, key=lambda text: sacrebleu.sentence_bleu(text, [references[index]]).score)
    return best


def oracle_quality(translator, subset: str, references: Sequence[str]) -> Dict[str, float]:
    """sacreBLEU of the oracle-code, random-code and reference-length translations, and of the best
    candidates when the generator ranks several; the latent predictor's teacher-forced accuracy."""
    from vqnat.scoring import sacrebleu_score

    best_candidate_bleu = None
    if translator.generator.ranks_candidates:
        best_candidate_bleu = sacrebleu_score(best_candidate_translations(translator, subset, references),
                                              references)[0]
    oracle = oracle_code_translations(translator, subset)
    bleu, random_bleu, reference_length_bleu = (
        sacrebleu_score([translator.detokenize(tokens) for tokens in oracle[key]], references)[0]
        for key in ("tokens", "random_tokens", "reference_length_tokens"))
    return {"bleu": bleu, "random_codes_bleu": random_bleu, "reference_length_bleu": reference_length_bleu,
            "best_candidate_bleu": best_candidate_bleu,
            "latent_accuracy": oracle["latent_correct"] / max(oracle["latents"], 1)}

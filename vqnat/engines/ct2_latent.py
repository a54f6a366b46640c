"""The autoregressive latent predictor's search in CTranslate2 (``engine=ct2`` on a vqnat checkpoint).

The latent predictor of ``pairs`` and ``paper`` is a Transformer decoder over codes that attends to the
source: what CTranslate2 runs for AR translation, with a vocabulary of K codes whose input embeddings are
the code vectors (``embed_codes``), no embedding scale, and the zero start vector as its first input. In
ONNX Runtime each code costs a session call and PyTorch's search bookkeeping; CTranslate2 runs the whole
greedy or beam search in C++. The source encoder, the length, the parallel decoder and the teacher-forced
pass (latent accuracy) stay ONNX Runtime's (``vqnat.engines.onnx``); CTranslate2 encodes the source once
more itself, since it takes tokens, not states.

The model is converted once into ``STEM.ct2latent-QUANTIZE/`` beside the checkpoint with CTranslate2's own
fairseq converter functions: vqnat's encoder is fairseq's, and the predictor is handed over as a view
shaped like a fairseq decoder.
"""
import copy
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Tuple

import torch
from fairseq.models import FairseqDecoder
from torch import Tensor, nn

from vqnat.engines import EngineError
from vqnat.engines.cache import cached_conversion
from vqnat.engines.ct2 import import_ctranslate2, source_symbols, vocabulary

#: The target vocabulary's special tokens after the K codes: CTranslate2 needs them named; none is ever chosen.
_SPECIALS = ("<s>", "</s>", "<unk>")
#: The logit of a special token: exp(-1e4) is 0, so the codes' log-probabilities are the predictor's own.
_NEVER = -1e4


def code_symbol(code: int) -> str:
    """The name of a code in the converted model's target vocabulary."""
    return f"<code{code}>"


def _linear_map(layer: nn.Module, dim: int) -> Tuple[Tensor, Tensor]:
    """(weight (K, D), bias (K,)) of the predictor's output layer, read off as the affine map it is (the free
    layer or the codebook-tied one: both are linear in the state)."""
    bias = layer(torch.zeros(1, dim))[0]
    return (layer(torch.eye(dim)) - bias).t().contiguous(), bias


def _predictor_as_decoder(model) -> SimpleNamespace:
    """The latent predictor with the attributes CTranslate2's fairseq decoder converter reads."""
    decoder = model.latent_predictor.decoder
    dim, codes = decoder.embed_dim, model.bottleneck.num_codes
    extra = len(_SPECIALS)
    table = torch.cat([model.embed_codes(torch.arange(codes)).float(), torch.zeros(extra, dim)])  # <s>: zero vector
    weight, bias = _linear_map(model.latent_predictor.output_projection, dim)
    return SimpleNamespace(
        embed_tokens=SimpleNamespace(weight=table),
        embed_positions=SimpleNamespace(weights=decoder.position_table, padding_idx=-1),  # step t reads row t
        embed_scale=False,
        output_projection=SimpleNamespace(weight=torch.cat([weight, torch.zeros(extra, dim)]),
                                          bias=torch.cat([bias, torch.full((extra,), _NEVER)])),
        layers=decoder.layers, layer_norm=decoder.layer_norm,
        layernorm_embedding=None, project_in_dim=None, project_out_dim=None)


def latent_predictor_spec(model):
    """CTranslate2's ``TransformerSpec`` of ``model``'s encoder and latent predictor."""
    from ctranslate2.converters import fairseq as fairseq_converter
    from ctranslate2.specs import transformer_spec

    args = model.args
    activations = fairseq_converter._SUPPORTED_ACTIVATIONS
    if args.activation_fn not in activations:
        raise EngineError(f"engine ct2: --activation-fn {args.activation_fn} is not one CTranslate2 runs "
                          f"({', '.join(activations)})")
    spec = transformer_spec.TransformerSpec.from_config(
        (len(model.encoder.layers), len(model.latent_predictor.decoder.layers)), args.attention_heads,
        pre_norm=not args.post_norm, activation=activations[args.activation_fn])
    with torch.no_grad():
        fairseq_converter.set_transformer_encoder(spec.encoder, model.encoder)
        spec.encoder.scale_embeddings = model.encoder.embed_scale != 1.0
        fairseq_converter.set_transformer_decoder(spec.decoder, _predictor_as_decoder(model))
    spec.register_source_vocabulary(vocabulary(model.encoder.dictionary))
    spec.register_target_vocabulary([code_symbol(code) for code in range(model.bottleneck.num_codes)]
                                    + list(_SPECIALS))
    spec.config.decoder_start_token = "<s>"
    spec.config.add_source_eos = True  # fairseq's sources end in EOS
    return spec


def converted_latent_predictor(model, checkpoint: Path, quantize: str) -> Path:
    """The CTranslate2 model of ``model``'s encoder and latent predictor at ``quantize``, converted unless
    an up-to-date one is cached beside ``checkpoint`` (``STEM.ct2latent-QUANTIZE/``)."""
    import_ctranslate2()
    from ctranslate2.converters.converter import Converter

    class _LatentPredictorConverter(Converter):
        def _load(self):
            # CTranslate2 quantizes and fuses the arrays it is given in place: they would be the model's own
            return latent_predictor_spec(copy.deepcopy(model))

    def convert(folder: Path) -> None:
        _LatentPredictorConverter().convert(str(folder), quantization=quantize, force=True)

    return cached_conversion(checkpoint, f"ct2latent-{quantize}", ["model.bin"], convert, "CTranslate2")


class _Searches(FairseqDecoder):
    """CTranslate2's searches; one call decodes ``length`` codes for every source given, one predictor pass
    a code (``passes_per_call``: what the bench's step counter counts)."""

    def __init__(self, translator, dictionary):
        super().__init__(dictionary)
        self.translator = translator

    @staticmethod
    def passes_per_call(sources, length: int, beam: int) -> int:
        return length

    def forward(self, sources: List[List[str]], length: int, beam: int):
        return self.translator.translate_batch(
            sources, beam_size=beam, num_hypotheses=beam, length_penalty=0.0, max_decoding_length=length,
            min_decoding_length=length, return_scores=True)


class CTranslate2LatentSearch(nn.Module):
    """The latent predictor whose search runs in CTranslate2 (``search_codes``); its teacher-forced pass,
    ``step`` and ``reorder_cache`` (sampled codes, latent accuracy) stay those of ``stepper``."""

    def __init__(self, stepper: nn.Module, model_dir: Path, source_dictionary, num_codes: int, quantize: str,
                 threads: int):
        super().__init__()
        ctranslate2 = import_ctranslate2()
        self.stepper = stepper
        translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type=quantize,
                                            inter_threads=1, intra_threads=threads)
        self.searches = _Searches(translator, source_dictionary)
        self.source_symbols = vocabulary(source_dictionary)
        self.pad = source_dictionary.pad()
        self.codes: Dict[str, int] = {code_symbol(code): code for code in range(num_codes)}

    def forward(self, code_vectors: Tensor, mask: Tensor, encoder_out) -> Tensor:
        return self.stepper(code_vectors, mask, encoder_out)

    def step(self, *args, **kwargs) -> Tensor:
        return self.stepper.step(*args, **kwargs)

    def reorder_cache(self, incremental_state, rows: Tensor) -> None:
        self.stepper.reorder_cache(incremental_state, rows)

    def search_codes(self, encoder_out, num_latents: Tensor, beam_size: int) -> Tuple[Tensor, Tensor]:
        """Every sentence's ``beam_size`` best code sequences (B, beam, max N), best first, and their
        log-probabilities (B, beam), as ``search_latents`` finds them; the sources are the encoder output's
        ``src_tokens``. Sentences that need as many codes are searched together, so that each one's beams
        are ranked at its own last code, as vqnat's search ranks them."""
        sources = source_symbols(encoder_out["src_tokens"][0], self.source_symbols, self.pad)
        lengths = num_latents.tolist()
        codes = torch.zeros(len(sources), beam_size, max(lengths), dtype=torch.long)
        scores = torch.zeros(len(sources), beam_size)
        rows_of_length: Dict[int, List[int]] = defaultdict(list)
        for row, length in enumerate(lengths):
            rows_of_length[length].append(row)
        for length, rows in rows_of_length.items():
            results = self.searches([sources[row] for row in rows], length, beam_size)
            for row, result in zip(rows, results):
                for beam, (hypothesis, score) in enumerate(zip(result.hypotheses, result.scores)):
                    codes[row, beam, :length] = torch.tensor([self.codes[symbol] for symbol in hypothesis])
                    scores[row, beam] = score
        return codes.to(num_latents.device), scores.to(num_latents.device)


def use_ctranslate2_latent_search(model, checkpoint: Path, quantize: str) -> None:
    """Run ``model``'s latent search in CTranslate2 and its other networks in ONNX Runtime from now on, both
    at ``quantize`` and with as many threads as torch has."""
    from vqnat.engines.onnx import use_onnxruntime

    if model.parallel:
        raise EngineError("engine ct2 runs an autoregressive latent predictor (recipes pairs and paper); this "
                          "model's is parallel: use engine onnx")
    if next(model.parameters()).device.type != "cpu":
        raise EngineError("engine ct2 runs vqnat models on the CPU only: add --cpu")
    model_dir = converted_latent_predictor(model, Path(checkpoint), quantize)
    use_onnxruntime(model, Path(checkpoint), quantize)
    model.latent_predictor = CTranslate2LatentSearch(model.latent_predictor, model_dir, model.encoder.dictionary,
                                                     model.bottleneck.num_codes, quantize, torch.get_num_threads())

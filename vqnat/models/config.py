"""Every option of the ``vqnat`` model, with its default and help text written once.

The model is registered the argparse way (``add_args``), like fairseq's own NAT models: the flags come
from this dataclass with their defaults removed, so the ``vqnat_*`` architecture functions can set sizes
first and :func:`fill_defaults` then fills whatever is still unset from here.
"""
from dataclasses import dataclass, field, fields
from typing import Any

from fairseq import utils
from fairseq.dataclass import ChoiceEnum, FairseqDataclass

from vqnat.models.code_output import LATENT_OUTPUT_KINDS

BOTTLENECK_KINDS = ["vq", "ema", "soft_em", "dvq", "semhash"]
LATENT_PREDICTOR_KINDS = ["autoregressive", "parallel"]


@dataclass
class VQNATConfig(FairseqDataclass):
    embed_dim: int = field(
        default=512, metadata={"help": "model width D of every part: encoder, compressor, codebook, decoders"}
    )
    ffn_embed_dim: int = field(default=2048, metadata={"help": "inner size of the Transformer feed-forward blocks"})
    attention_heads: int = field(default=8, metadata={"help": "attention heads in every Transformer layer"})
    encoder_layers: int = field(default=6, metadata={"help": "source encoder layers"})
    decoder_layers: int = field(default=6, metadata={"help": "parallel decoder layers (PAPER B.7)"})
    latent_layers: int = field(default=6, metadata={"help": "latent predictor layers (PAPER B.8)"})
    latent_predictor: ChoiceEnum(LATENT_PREDICTOR_KINDS) = field(
        default="autoregressive",
        metadata={"help": "how the codes are predicted from the source: 'autoregressive', one code after the other "
                          "(the paper's, PAPER B.8), or 'parallel', all codes in one pass over the source copied to "
                          "the latent length, trained with glancing (--glance-ratio); with 'parallel' the decoder "
                          "also reads the copied source"},
    )
    latent_output: ChoiceEnum(LATENT_OUTPUT_KINDS) = field(
        default="free",
        metadata={"help": "the latent predictor's output layer: 'free', one learned row per code (the paper's), or "
                          "'codebook', each code scored by its own codebook vector (tied, as a language model ties "
                          "its output to its word embeddings)"},
    )
    dropout: float = field(default=0.1, metadata={"help": "dropout on residual branches, convolutions and embeddings"})
    latent_dropout: float = field(
        default=-1.0,
        metadata={"help": "dropout in the latent predictor's layers (the residual branches and their inputs), which "
                          "fit their training codes long before the rest of the model fits its targets; negative: "
                          "--dropout's"},
    )
    attention_dropout: float = field(default=0.0, metadata={"help": "dropout on attention weights"})
    activation_dropout: float = field(default=0.0, metadata={"help": "dropout after the feed-forward activation"})
    activation_fn: ChoiceEnum(utils.get_available_activation_fns()) = field(
        default="relu", metadata={"help": "feed-forward activation"}
    )
    post_norm: bool = field(
        default=False,
        metadata={"help": "LayerNorm after each Transformer block (fairseq's default) instead of before (the paper's)"},
    )
    max_source_positions: int = field(default=1024, metadata={"help": "longest source the encoder accepts"})
    max_target_positions: int = field(default=1024, metadata={"help": "longest target the decoder accepts"})
    compress: int = field(
        default=3,
        metadata={"help": "n_c: stride-2 compression steps, one latent per 2^n_c target tokens (PAPER B.4); 0: one "
                          "code per target token, quantized from the token's own embedding (latent-GLAT)"},
    )
    local_codes: bool = field(
        default=False,
        metadata={"help": "quantize each latent from its own 2^n_c target tokens only (the compressor's strided "
                          "convolutions without the residual convolutions over their neighbours before them): a "
                          "code is then a function of the tokens it stands for, not of their context"},
    )
    bottleneck: ChoiceEnum(BOTTLENECK_KINDS) = field(
        default="soft_em",
        metadata={"help": "discretisation: vq (gradient codebook), ema (hard EM), soft_em (Monte-Carlo EM), "
                          "dvq (decomposed VQ), semhash (improved semantic hashing)"},
    )
    codebook_size: int = field(default=4096, metadata={"help": "K: number of codes (a power of 2 for dvq/semhash)"})
    code_dim: int = field(
        default=0,
        metadata={"help": "quantize a learned linear projection of each latent to this many dimensions and project "
                          "the code vectors back to D (factorized codes, Yu et al. 2022); 0 quantizes the "
                          "D-dimensional latents as the paper does"},
    )
    num_samples: int = field(default=10, metadata={"help": "m: codes sampled per latent under soft_em (PAPER A.6)"})
    commitment_beta: float = field(default=0.25, metadata={"help": "beta: weight of the commitment loss (PAPER A.3)"})
    em_decay: float = field(
        default=0.999, metadata={"help": "lambda: EMA decay of the EM codebook statistics (PAPER A.4)"}
    )
    em_epsilon: float = field(default=1e-5, metadata={"help": "epsilon: Laplace smoothing of the EMA counts"})
    em_temperature: float = field(default=1.0, metadata={
        "help": "temperature of the soft_em sampling softmax (1: the paper; the pairs recipe: 2)"})
    dvq_slices: int = field(default=2, metadata={"help": "n_d: codebooks of a dvq bottleneck"})
    dvq_projection: bool = field(
        default=False, metadata={"help": "dvq with fixed random projections instead of slices (PAPER A.7)"}
    )
    kmeans_init: bool = field(
        default=False,
        metadata={"help": "initialise the codebook by k-means on the first training batches (as many as give K "
                          "latents)"},
    )
    restart_dead_codes: bool = field(
        default=False, metadata={"help": "periodically move unused codes onto recent compressor outputs"}
    )
    semhash_startup_steps: int = field(
        default=10000, metadata={"help": "semhash: updates until half the examples use discrete bits (PAPER A.8)"}
    )
    latent_predictor_detach: bool = field(
        default=False,
        metadata={"help": "feed the latent predictor detached code vectors, so that its loss trains it but not the "
                          "compressor. The paper's code lets that gradient through: it makes the codes predictable "
                          "from the source, and on real text it can also pull the codebook into collapse"},
    )
    freeze_codes_after: int = field(
        default=0,
        metadata={"help": "from this update on, the compressor gets no gradient and the codebook no EM step, so "
                          "that the latent predictor learns targets that hardly move (the token embeddings the "
                          "compressor reads still train with the decoder) for the rest of the run (0: never)"},
    )
    latent_hard_inputs: bool = field(
        default=False,
        metadata={"help": "the latent predictor reads, in training, the vector of each earlier code itself (under "
                          "soft_em: the most drawn one) instead of the bottleneck's output (soft_em: the mean of the "
                          "drawn codes' vectors, a blend it never reads when it translates)"},
    )
    latent_input_dropout: float = field(
        default=0.0,
        metadata={"help": "autoregressive latent predictor: in training, the chance that the vector of an earlier "
                          "code it reads is replaced by the start vector (word dropout over codes), so that it leans "
                          "on the source more than on codes it will mostly get wrong when it translates; 0: off"},
    )
    latent_token_prediction: bool = field(
        default=False,
        metadata={"help": "autoregressive latent predictor: in training it also predicts the 2^n_c target tokens of "
                          "each code it predicts (from the same state, through the shared output embedding; "
                          "--latent-token-loss-weight), so that its states keep saying which words come next, as "
                          "the AR teacher's decoder it starts from did; generation does not use it"},
    )
    decoder_bidirectional: bool = field(
        default=False,
        metadata={"help": "full self-attention in the parallel decoder instead of the paper's causal self-attention "
                          "over the decompressed latents shifted right (PAPER B.7); incompatible with "
                          "--tf-warmup-updates"},
    )
    latent_iterations: int = field(
        default=1,
        metadata={"help": "passes the parallel latent predictor makes when it translates, unless generation says "
                          "otherwise: each fixes the most confident share of the codes and predicts the rest "
                          "again (mask-predict over codes); 1 = one pass"},
    )
    init_from: str = field(
        default="",
        metadata={"help": "warm start: copy the source encoder, the embeddings and, where shapes match, the decoder "
                          "layers (into the parallel decoder and the latent predictor) from this AR checkpoint of "
                          "fairseq's transformer on the same dictionary, width and norm placement"},
    )
    max_length_offset: int = field(
        default=128,
        metadata={"help": "the target-length predictor chooses T in S +- this many tokens (S: source length)"},
    )


def fill_defaults(args: Any) -> None:
    """Set every option still unset (None) on ``args`` to its :class:`VQNATConfig` default."""
    for option in fields(VQNATConfig):
        if utils.safe_getattr(args, option.name, None) is None:
            setattr(args, option.name, option.default)

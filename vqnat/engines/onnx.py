"""ONNX Runtime for vqnat models (``engine=onnx``): the PyTorch graph without PyTorch's per-operator cost.

In eager mode a batch-1 vqnat translation spends most of its time dispatching small operators, not
multiplying. The networks that do the arithmetic (the source encoder, the latent predictor's pass, and its
first and next step when it is autoregressive (``vqnat.engines.onnx_steps``), and the parallel decoder with
its output projection) are exported once to ONNX into ``STEM.onnx-QUANTIZE/``
beside the checkpoint (again when the checkpoint is newer), ``int8`` through ONNX Runtime's dynamic
quantization, and take the place of those modules in the loaded model. The glue (lengths, the uniform copy
of the source, code embeddings, mask-predict refinement, the generator's argmax and candidate ranking) stays
the PyTorch code, so an fp32 run gives the PyTorch engine's translations.
"""
import logging
from pathlib import Path
from typing import Dict, List, Optional

import torch
from fairseq.models import FairseqDecoder
from fairseq.models.transformer import TransformerEncoderBase
from torch import Tensor, nn

from vqnat.engines import EngineError
from vqnat.engines.cache import cached_conversion
from vqnat.engines.onnx_steps import OnnxStepPredictor, step_graph_specs
from vqnat.models.parallel_latent_predictor import ParallelLatentPredictor

INSTALL = "pip install 'vqnat[onnx]'"


def import_onnxruntime():
    """The ``onnxruntime`` module, or a one-line error naming the extra that installs it."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime
    except ImportError:
        raise EngineError(f"engine onnx needs ONNX Runtime, which is not installed: {INSTALL}") from None
    return onnxruntime


class _EncoderGraph(nn.Module):
    """fairseq's encoder as tensors in, tensors out."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, src_tokens: Tensor, src_lengths: Tensor):
        out = self.encoder(src_tokens, src_lengths=src_lengths)
        return out["encoder_out"][0], out["encoder_padding_mask"][0], out["encoder_embedding"][0]


class _AttendingGraph(nn.Module):
    """A network over (B, N, D) vectors that attends to the source: the latent predictor, or the model's
    ``decode`` (parallel decoder + tied output projection)."""

    def __init__(self, owner: nn.Module, method: str):
        super().__init__()
        self.owner = owner  # a submodule, so that the tracer sees its weights as parameters
        self.method = method

    def forward(self, inputs: Tensor, mask: Tensor, source: Tensor, source_padding: Tensor) -> Tensor:
        encoder_out = {"encoder_out": [source], "encoder_padding_mask": [source_padding]}
        return getattr(self.owner, self.method)(inputs, mask, encoder_out)


def _parts(model) -> List[str]:
    """The networks exported for ``model``: its latent predictor's (teacher-forced) pass, and its first and next
    step when it is autoregressive."""
    return ["encoder", "decoder", "latent_predictor", *([] if model.parallel else ["latent_start", "latent_step"])]


_ATTENDING_NAMES = (["inputs", "mask", "source", "source_padding"], ["logits"],
                    {"inputs": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"},
                     "source": {0: "source", 1: "batch"}, "source_padding": {0: "batch", 1: "source"},
                     "logits": {0: "batch", 1: "length"}})
_ENCODER_NAMES = (["src_tokens", "src_lengths"], ["encoder_out", "encoder_padding_mask", "encoder_embedding"],
                  {"src_tokens": {0: "batch", 1: "source"}, "src_lengths": {0: "batch"},
                   "encoder_out": {0: "source", 1: "batch"}, "encoder_padding_mask": {0: "batch", 1: "source"},
                   "encoder_embedding": {0: "batch", 1: "source"}})


def _specs(model) -> Dict[str, tuple]:
    """Per network: (module, inputs to trace with, input names, output names, the axes that vary: batch,
    source and target lengths). Two sentences, one padded, so that the padding masks are part of every graph."""
    dim, dictionary = model.args.embed_dim, model.encoder.dictionary
    word, pad, eos = dictionary.nspecial, dictionary.pad(), dictionary.eos()
    tokens = torch.tensor([[word, word, word, word, eos], [pad, pad, word, word, eos]])  # left-padded, as fairseq's
    lengths = torch.tensor([5, 3])
    encoded = model.encode(tokens, lengths)
    source, padding = encoded["encoder_out"][0], encoded["encoder_padding_mask"][0]
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    attending = (torch.randn(2, 6, dim), mask, source, padding)
    specs = {"encoder": (_EncoderGraph(model.encoder), (tokens, lengths), *_ENCODER_NAMES),
             "decoder": (_AttendingGraph(model, "decode"), attending, *_ATTENDING_NAMES)}
    specs["latent_predictor"] = (_AttendingGraph(model.latent_predictor, "forward"), attending, *_ATTENDING_NAMES)
    if not model.parallel:
        specs.update(step_graph_specs(model.latent_predictor, source, padding))
    return specs


def export(model, folder: Path, quantize: str) -> None:
    """Write ``model``'s networks as ONNX files into ``folder`` (int8 weights with ``quantize=int8``)."""
    import warnings

    model.eval()
    with torch.no_grad():
        specs = _specs(model)
    for part, (graph, example, inputs, outputs, axes) in specs.items():
        graph.eval()  # the exporter restores the mode it finds; fairseq refuses train() after loading
        target = folder / f"{part}.onnx"
        exported = target if quantize == "float32" else folder / f"{part}.fp32.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about the Python branches it fixes (padding on)
            torch.onnx.export(graph, example, str(exported), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # its advice to pre-process is logged on the root logger at each call
            try:
                # 7-bit weights: without VNNI (AVX2 hosts) 8-bit int8 x uint8 products saturate; a tiny model's
                # encoder states there keep 0.9999 cosine of fp32's with 7 bits, 0.987 with 8
                quantize_dynamic(str(exported), str(target), weight_type=QuantType.QInt8, reduce_range=True)
            finally:
                root.setLevel(level)
            exported.unlink()


def exported_model(model, checkpoint: Path, quantize: str) -> Path:
    """The folder of ``model``'s ONNX networks at ``quantize``, exported unless an up-to-date one is cached
    beside ``checkpoint`` (``STEM.onnx-QUANTIZE/``)."""
    import_onnxruntime()
    files = [f"{part}.onnx" for part in _parts(model)]
    return cached_conversion(checkpoint, f"onnx-{quantize}", files, lambda folder: export(model, folder, quantize),
                             "ONNX")


class _Session:
    """An ONNX Runtime session called with and returning torch tensors (CPU, zero-copy through numpy)."""

    def __init__(self, path: Path, threads: int):
        onnxruntime = import_onnxruntime()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {item.name for item in self.session.get_inputs()}  # the exporter drops unused ones

    def __call__(self, **tensors: Tensor) -> List[Tensor]:
        feed = {name: tensor.detach().contiguous().numpy() for name, tensor in tensors.items() if name in self.inputs}
        return [torch.from_numpy(array) for array in self.session.run(None, feed)]


class OnnxEncoder(nn.Module):
    """The source encoder run by ONNX Runtime; fairseq's encoder output format, its reordering for beams and
    its source dictionary."""

    def __init__(self, session: _Session, dictionary):
        super().__init__()
        self.session = session
        self.dictionary = dictionary

    reorder_encoder_out = TransformerEncoderBase.reorder_encoder_out  # a function of the output alone

    def forward(self, src_tokens: Tensor, src_lengths: Tensor, **unused):
        states, padding, embedded = self.session(src_tokens=src_tokens, src_lengths=src_lengths)
        return {"encoder_out": [states], "encoder_padding_mask": [padding], "encoder_embedding": [embedded],
                "encoder_states": [], "fc_results": [], "src_tokens": [src_tokens], "src_lengths": [src_lengths]}


class _OnnxStack(FairseqDecoder):
    """A decoder stack (the latent predictor or the parallel decoder) whose passes run in ONNX Runtime.

    A fairseq decoder like the module it replaces, so that the bench counts its passes as it counts theirs.
    """

    def __init__(self, session: _Session, dictionary):
        super().__init__(dictionary)
        self.session = session

    def forward(self, inputs: Tensor, mask: Tensor, encoder_out) -> Tensor:
        return self.session(inputs=inputs.float(), mask=mask, source=encoder_out["encoder_out"][0],
                            source_padding=encoder_out["encoder_padding_mask"][0])[0]


class OnnxLatentPredictor(_OnnxStack):
    """A parallel latent predictor: logits (B, N, K) per pass; its refinement loop is PyTorch's."""

    refine = ParallelLatentPredictor.refine


class OnnxDecoder(_OnnxStack):
    """The model's ``decode``: the parallel decoder and its token projection, logits (B, L, V)."""

    def decode(self, decoder_input: Tensor, mask: Tensor, encoder_out, keep: Optional[int] = None) -> Tensor:
        return self(decoder_input, mask, encoder_out)[:, :keep]


def use_onnxruntime(model, checkpoint: Path, quantize: str) -> None:
    """Run ``model``'s encoder, latent predictor and decoder in ONNX Runtime from now on (exported
    beside ``checkpoint`` if needed), with as many threads as torch has."""
    if next(model.parameters()).device.type != "cpu":
        raise EngineError("engine onnx runs on the CPU only: add --cpu")
    folder = exported_model(model, checkpoint, quantize)
    threads = torch.get_num_threads()
    sessions = {part: _Session(folder / f"{part}.onnx", threads) for part in _parts(model)}
    model.encoder = OnnxEncoder(sessions["encoder"], model.encoder.dictionary)  # the PyTorch encoder is freed
    if model.parallel:
        model.latent_predictor = OnnxLatentPredictor(sessions["latent_predictor"], model.decoder.dictionary)
    else:
        graphs = {part: sessions[part] for part in ("latent_predictor", "latent_start", "latent_step")}
        model.latent_predictor = OnnxStepPredictor(graphs, len(model.latent_predictor.decoder.layers),
                                                   model.decoder.dictionary)
    model.decoder = OnnxDecoder(sessions["decoder"], model.decoder.dictionary)
    model.decode = model.decoder.decode  # decoder + projection are one graph

"""int8 dynamic quantization of a loaded PyTorch model (``engine=torch,quantize=int8``).

Every ``nn.Linear`` becomes PyTorch's dynamically quantized Linear: int8 weights, activations quantized
on the fly, fp32 in and out, so the model and its generator run unchanged. Embeddings, products with
embedding matrices (vqnat's tied token projection) and the discrete bottleneck (nearest-code search,
kept in fp32 like its training statistics) stay fp32.
"""
import torch
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig


def quantize_linear_int8_(model: nn.Module) -> nn.Module:
    """Replace ``model``'s Linear layers outside its bottleneck by int8 dynamically quantized ones, in place;
    returns ``model``."""
    from fairseq.modules import MultiheadAttention

    bottlenecks = [name for name, module in model.named_modules()
                   if type(module).__module__.startswith("vqnat.bottleneck")]
    linears = {name: default_dynamic_qconfig for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and not any(name.startswith(f"{outer}.") for outer in bottlenecks)}
    for module in model.modules():
        if isinstance(module, MultiheadAttention):
            # its fused path reads q/k/v_proj.weight as tensors; a quantized Linear has packed weights
            module.skip_embed_dim_check = True
    return torch.ao.quantization.quantize_dynamic(model, linears, dtype=torch.qint8, inplace=True)

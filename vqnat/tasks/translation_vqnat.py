"""``translation_vqnat``: fairseq's translation task (original or distilled data) with the vqnat generator.

Adds the generation options of the Latent Transformer and returns ``VQNATGenerator`` for vqnat models, so
``fairseq-generate``, ``fairseq-interactive`` and ``--eval-bleu`` decode them non-autoregressively; other
models (an AR teacher) get fairseq's usual generator. A new vqnat model with ``--init-from`` is warm-started
from an AR teacher here, where fairseq says whether the model is new or about to be loaded.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from vqnat.engines import QUANTIZATIONS, RESCORE_ENGINES
from vqnat.generation.generator import VQNATGenerator
from vqnat.generation.length_rules import LENGTH_RULES, TRAIN_PADDINGS
from vqnat.models.vqnat_model import VQNATModel
from vqnat.models.warm_start import warm_start


@dataclass
class TranslationVQNATConfig(TranslationConfig):
    length_rule: ChoiceEnum(LENGTH_RULES) = field(
        default="predicted",
        metadata={"help": "decoding length, and so how many latents to decode: 'predicted' by the model's "
                          "target-length classifier (T^, ceil(T^ / 2^n_c) latents), or 'paper': 2 x source length "
                          "rounded up to 2^n_c (PAPER C.1). The output ends at its first EOS or at that length"},
    )
    length_scale: float = field(
        default=1.0,
        metadata={"help": "multiply the length rule's length by this (rounded; more or fewer latents and tokens): "
                          "a model that translates short can be given longer translations, chosen on valid"},
    )
    exact_length: bool = field(
        default=False,
        metadata={"help": "translations take exactly the length rule's (scaled) length: the decoder's EOS is not "
                          "allowed before it (Mask-Predict's convention) instead of ending the translation early"},
    )
    train_padding: ChoiceEnum(TRAIN_PADDINGS) = field(
        default="paper",
        metadata={"help": "target positions the autoencoder covers in training: 'paper' pads each target to "
                          "roundup(max(T, 2S)) as the paper does (PAPER B.3); 'none' covers the target only "
                          "(cheaper, but then decode with --length-rule predicted)"},
    )
    latent_beam: int = field(
        default=1, metadata={"help": "beam size of the search over latent codes (1 = greedy, the paper's)"}
    )
    latent_iterations: int = field(
        default=0,
        metadata={"help": "passes of a parallel latent predictor (mask-predict over codes); 0: the model's "
                          "--latent-iterations"},
    )
    length_beam: int = field(
        default=1,
        metadata={"help": "lengths decoded per sentence: the length rule's T, then T-1, T+1, T-2, ...; the "
                          "candidates go through one batched decoder pass and the best-scored is kept"},
    )
    latent_samples: int = field(
        default=1,
        metadata={"help": "code sequences per length from the latent predictor: its most likely codes and N - 1 "
                          "sampled at --latent-temperature (noisy parallel decoding); the candidates go "
                          "through one batched decoder pass and the best-scored is kept"},
    )
    latent_temperature: float = field(
        default=1.0, metadata={"help": "temperature of the codes --latent-samples draws (> 0)"}
    )
    rescore: str = field(
        default="",
        metadata={"help": "AR teacher checkpoint (same dictionary) that scores every candidate (each length of "
                          "--length-beam x each final beam of --latent-beam or sample of --latent-samples) in one "
                          "teacher-forced pass; the "
                          "best is kept (noisy parallel decoding)"},
    )
    rescore_engine: ChoiceEnum(RESCORE_ENGINES) = field(
        default="torch",
        metadata={"help": "how --rescore's teacher runs: torch, or ct2 (CTranslate2, `pip install 'vqnat[ct2]'`; "
                          "converted once beside the checkpoint)"},
    )
    rescore_quantize: ChoiceEnum(QUANTIZATIONS) = field(
        default="float32",
        metadata={"help": "float32, or int8 weights for --rescore's teacher (torch: its Linear layers, CPU only)"},
    )


@register_task("translation_vqnat", dataclass=TranslationVQNATConfig)
class TranslationVQNATTask(TranslationTask):
    cfg: TranslationVQNATConfig

    def __init__(self, cfg: TranslationVQNATConfig, src_dict, tgt_dict):
        if cfg.left_pad_target:
            raise ValueError("translation_vqnat needs right-padded targets: drop --left-pad-target")
        super().__init__(cfg, src_dict, tgt_dict)
        self.rescorers = {}

    def get_batch_iterator(self, dataset, **kwargs):
        """Batch every sentence outside training.

        fairseq 0.12.3 drops a last batch whose size is not a multiple of --required-batch-size-multiple
        (default 8): harmless in training, but it would silently skip sentences in validation and generation.
        """
        if dataset is not self.datasets.get(self.cfg.train_subset):
            kwargs["required_batch_size_multiple"] = 1
        return super().get_batch_iterator(dataset, **kwargs)

    def build_model(self, cfg, from_checkpoint: bool = False):
        """The model; a new vqnat model with ``--init-from`` starts from that AR teacher's weights."""
        model = super().build_model(cfg, from_checkpoint)
        if isinstance(model, VQNATModel) and model.args.init_from and not from_checkpoint:
            warm_start(model, model.args.init_from)
        return model

    def load_rescorer(self, path: str, device: torch.device, engine: str = "torch", quantize: str = "float32"):
        """The AR teacher at ``path`` on ``device``, in eval mode, run by ``engine`` at ``quantize`` precision
        (loaded once per task)."""
        from fairseq import checkpoint_utils

        from vqnat.engines import EngineError

        engine, quantize = str(engine), str(quantize)  # the task config's values are fairseq ChoiceEnums
        if engine not in RESCORE_ENGINES or quantize not in QUANTIZATIONS:
            raise ValueError(f"--rescore-engine {engine} --rescore-quantize {quantize}: choose the engine among "
                             f"{', '.join(RESCORE_ENGINES)} and the precision among {', '.join(QUANTIZATIONS)}")
        key = (path, engine, quantize, str(device))
        if key not in self.rescorers:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"--rescore {path}: no such file")
            try:
                models, _ = checkpoint_utils.load_model_ensemble([path], task=self)
            except Exception as error:  # a foreign or mismatched checkpoint fails in many ways
                from vqnat.safe_load import describe_load_error

                raise ValueError(f"--rescore: {describe_load_error(path, error)}") from None
            if isinstance(models[0], VQNATModel):
                raise ValueError(f"--rescore {path}: a vqnat checkpoint; rescoring needs an AR teacher")
            teacher = models[0].eval().to(device)  # loaded in PyTorch for every engine: the checks above
            if engine == "ct2":
                from vqnat.engines.ct2 import ct2_scorer

                teacher = ct2_scorer(Path(path), Path(self.cfg.data), self.source_dictionary,
                                     self.target_dictionary, quantize, device.type)
            elif quantize == "int8":
                from vqnat.engines.quantize import quantize_linear_int8_

                if device.type != "cpu":
                    raise EngineError("--rescore-quantize int8 with --rescore-engine torch runs on the CPU only")
                quantize_linear_int8_(teacher)
            self.rescorers[key] = teacher
        return self.rescorers[key]

    def given_or_own(self, args, name: str):
        """The generation config's value when it sets one (even False), else the task's: the checkpoint's own
        (``vqnat choose-length`` records the length it decodes best with there) or the command line's."""
        value = getattr(args, name, None)
        return getattr(self.cfg, name) if value is None else value

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None,
                        prefix_allowed_tokens_fn=None):
        if models and all(isinstance(model, VQNATModel) for model in models):
            # Options set on the generation config (the Python API, `vqnat generate`) win over the task's
            # (`fairseq-generate --length-rule ...`, whose generation config has no such fields).
            rescore = getattr(args, "rescore", None) or self.cfg.rescore
            device = next(models[0].parameters()).device
            return VQNATGenerator(self.target_dictionary,
                                  length_rule=getattr(args, "length_rule", None) or self.cfg.length_rule,
                                  latent_beam=getattr(args, "latent_beam", None) or self.cfg.latent_beam,
                                  length_beam=getattr(args, "length_beam", None) or self.cfg.length_beam,
                                  latent_iterations=(getattr(args, "latent_iterations", None)
                                                     or self.cfg.latent_iterations),
                                  latent_samples=getattr(args, "latent_samples", None) or self.cfg.latent_samples,
                                  latent_temperature=(getattr(args, "latent_temperature", None)
                                                      or self.cfg.latent_temperature),
                                  length_scale=self.given_or_own(args, "length_scale"),
                                  exact_length=bool(self.given_or_own(args, "exact_length")),
                                  rescorer=self.load_rescorer(
                                      rescore, device, getattr(args, "rescore_engine", None) or self.cfg.rescore_engine,
                                      getattr(args, "rescore_quantize", None) or self.cfg.rescore_quantize)
                                  if rescore else None)
        return super().build_generator(models, args, seq_gen_cls=seq_gen_cls,
                                       extra_gen_cls_kwargs=extra_gen_cls_kwargs,
                                       prefix_allowed_tokens_fn=prefix_allowed_tokens_fn)

"""vqnat: a fairseq plugin for non-autoregressive translation with EM-trained discrete latents.

Importing the package (or passing its folder to ``--user-dir``) registers the task, model
architectures and criterion with fairseq. Registration lives here and only here.
"""
from vqnat import compat  # noqa: F401  (must run before fairseq loads any checkpoint)
from vqnat.models import vqnat_model, architectures  # noqa: F401  (model "vqnat", archs vqnat_*)
from vqnat.criterions import vqnat_loss  # noqa: F401  (criterion "vqnat_loss")
from vqnat.tasks import translation_vqnat  # noqa: F401  (task "translation_vqnat")

__version__ = "0.1.0"


def __getattr__(name: str):
    """``vqnat.Translator``, the Python API, imported on first use: ``--user-dir`` imports stay lean."""
    if name == "Translator":
        from vqnat.translate import Translator

        return Translator
    raise AttributeError(f"module 'vqnat' has no attribute {name!r}")

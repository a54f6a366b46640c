"""vqnat: VQ-VAE latent transformers with EM-trained discrete bottlenecks, as a fairseq plugin."""
from setuptools import find_packages, setup

setup(
    name="vqnat",
    version="0.1.0",
    description="Non-autoregressive translation with EM-trained discrete latents (Roy et al. 2018) for fairseq",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["vqnat", "vqnat.*"]) + ["vqnat_cli"],
    package_dir={"vqnat_cli": "cli"},
    package_data={"vqnat": ["data/corpus/*"]},
    install_requires=[
        # The CPU wheel; a looser pin lets pip pull a multi-GB CUDA build.
        "torch==2.13.0",
        # fairseq 0.12.2 does not import on Python >= 3.11; this fork is upstream main + the dataclass fix.
        "fairseq-fixed==0.12.3.1",
        "numpy>=1.21.3,<3",
        "sentencepiece>=0.1.99",
        "sacremoses>=0.0.53",
        "sacrebleu>=2.3",
        "click>=8.1",
        "tqdm>=4.60",
        "matplotlib>=3.6",
        "scikit-image>=0.21",
    ],
    extras_require={
        "test": ["pytest>=7"],
        # `vqnat bench`/`generate` engine=ct2: CTranslate2 decoding of AR checkpoints (tested with 4.8.5).
        "ct2": ["ctranslate2>=4.8,<5"],
        # `vqnat bench`/`generate` engine=onnx: vqnat checkpoints exported to ONNX Runtime (tested with 1.32).
        "onnx": ["onnxruntime>=1.17", "onnx>=1.15"],
    },
    entry_points={"console_scripts": ["vqnat = vqnat_cli.main:cli"]},
)

"""The English-Spanish corpus shipped inside the package, so the demo needs no download.

See ``vqnat/data/corpus/README.md`` for its source (public-domain Bible translations), the selection
rule and the counts; ``examples/build_embedded_corpus.py`` rebuilds it.
"""
import importlib.resources
import pathlib
import tarfile
from typing import Optional, Union

EMBEDDED_ARCHIVE = "bible-en-es.tar.xz"
EMBEDDED_SOURCE_LANG = "en"
EMBEDDED_TARGET_LANG = "es"
EMBEDDED_FILES = tuple(
    f"{split}.{ext}" for split in ("train", "valid", "test") for ext in ("en", "es", "ref")
)


def extract_embedded_corpus(dest_dir: Union[str, pathlib.Path], max_lines: Optional[int] = None) -> pathlib.Path:
    """Write ``{train,valid,test}.{en,es,ref}`` into ``dest_dir`` and return it (the prefix folder).

    Use ``dest_dir / "train"`` etc. as ``--trainpref``/``--validpref``/``--testpref``.
    Only the known member names are written, so the archive cannot place files elsewhere.
    ``max_lines`` keeps only the first lines of every file (a quick run; the files stay aligned).
    """
    dest = pathlib.Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    archive = importlib.resources.files("vqnat.data") / "corpus" / EMBEDDED_ARCHIVE
    with archive.open("rb") as stream, tarfile.open(fileobj=stream, mode="r:xz") as tar:
        for name in EMBEDDED_FILES:
            text = tar.extractfile(name).read()
            if max_lines is not None:
                text = b"".join(text.splitlines(keepends=True)[:max_lines])
            (dest / name).write_bytes(text)
    return dest

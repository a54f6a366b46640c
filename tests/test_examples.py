"""The example pipelines: shell syntax of every script, the WMT cleaning rules and SGML extraction on small
files, and prepare.sh run offline on small stand-ins of the five WMT archives."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vqnat.data.clean import REASONS, CleanConfig, CleanError, clean_corpus, drop_reason
from vqnat.data.clean import main as clean_main
from vqnat.data.sgm import main as sgm_main
from vqnat.data.sgm import read_sgm_segments

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.rglob("*.sh"))


def test_the_examples_hold_the_documented_scripts():
    names = {str(path.relative_to(EXAMPLES)) for path in SCRIPTS}
    assert {"quickstart.sh", "bible_en_es/run.sh", "wmt14_en_de/prepare.sh", "wmt14_en_de/train.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_script_is_valid_strict_bash(script):
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


def write_pair(prefix: Path, pairs) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for lang, side in (("en", 0), ("de", 1)):
        Path(f"{prefix}.{lang}").write_bytes(b"".join(pair[side] + b"\n" for pair in pairs))


def read_lines(path: Path):
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


GOOD = (b"The house is small .", b"Das Haus ist klein .")

# (source, target, the rule it breaks) with the default thresholds; None = kept
CASES = [
    (GOOD[0], GOOD[1], None),
    (b"Thank you .", b"Danke .", None),  # (3+1)/(2+1) = 1.33
    (b"  The   cat\t sleeps .  ", b"Die Katze\xe2\x80\xa8schl\xc3\xa4ft .", None),  # tab and U+2028 collapse
    (b"", b"Leer .", "empty"),
    (b"   ", b"Leer .", "empty"),
    (b"Broken \xef\xbf\xbd text .", b"Kaputter Text .", "bad_characters"),
    (b"Bell \x07 here .", b"Glocke hier .", "bad_characters"),
    (b"word " * 201, b"Wort " * 201, "too_long"),
    (b"one two three four five six seven", b"eins zwei", "length_ratio"),  # (7+1)/(2+1) = 2.67
    (b"See http://example.com/" + b"a" * 60 + b" now .", b"Siehe http://example.com/" + b"a" * 60 + b" jetzt .",
     "long_word"),
    (b"12 , 345 , 6789 %", b"12 , 345 , 6789 %", "few_letters"),
    (b"Hello World .", b"hello   world .", "identical"),
    (b"Caf\xe9 .", b"Caf\xc3\xa9 .", "invalid_utf8"),
]


@pytest.mark.parametrize("source, target, expected", CASES)
def test_each_rule_on_one_pair(tmp_path, source, target, expected):
    write_pair(tmp_path / "in", [GOOD, (source, target)])
    report = clean_corpus("en", "de", [str(tmp_path / "in")], str(tmp_path / "out"), CleanConfig(dedup=False))
    dropped = {reason: count for reason, count in report["dropped"].items() if count}
    assert dropped == ({} if expected is None else {expected: 1})
    assert report["lines"] == 2 and report["kept"] == (2 if expected is None else 1)
    assert len(read_lines(tmp_path / "out.en")) == len(read_lines(tmp_path / "out.de")) == report["kept"]


def test_kept_lines_are_whitespace_collapsed_and_aligned(tmp_path):
    write_pair(tmp_path / "in", [(b"  The   cat\t sleeps .  ", b"Die Katze\xe2\x80\xa8schl\xc3\xa4ft ."), GOOD])
    clean_corpus("en", "de", [str(tmp_path / "in")], str(tmp_path / "out"))
    assert read_lines(tmp_path / "out.en") == ["The cat sleeps .", GOOD[0].decode()]
    assert read_lines(tmp_path / "out.de") == ["Die Katze schläft .", GOOD[1].decode()]


def test_dedup_spans_every_input_and_keeps_first_occurrences_in_order(tmp_path):
    first = [GOOD, (b"A dog .", b"Ein Hund ."), (b"The  house is small .", b"Das Haus ist klein .")]
    second = [(b"A dog .", b"Ein Hund ."), (b"A dog .", b"Der Hund ."), (b"A cat .", b"Eine Katze .")]
    write_pair(tmp_path / "europarl", first)
    write_pair(tmp_path / "crawl", second)
    report = clean_corpus("en", "de", [str(tmp_path / "europarl"), str(tmp_path / "crawl")], str(tmp_path / "out"))
    assert read_lines(tmp_path / "out.en") == ["The house is small .", "A dog .", "A dog .", "A cat ."]
    assert read_lines(tmp_path / "out.de") == ["Das Haus ist klein .", "Ein Hund .", "Der Hund .", "Eine Katze ."]
    assert report["dropped"]["duplicate"] == 2 and report["kept"] == 4 and report["lines"] == 6
    assert [(entry["lines"], entry["kept"]) for entry in report["inputs"]] == [(3, 2), (3, 2)]
    assert json.loads((tmp_path / "out.clean.json").read_text()) == report


def test_thresholds_are_configurable():
    config = CleanConfig(min_words=3, max_words=5, max_ratio=1.2, max_word_chars=4, min_letter_share=0.9)
    assert drop_reason("a b", "c d e", config) == "too_short"
    assert drop_reason("a b c d e f", "a b c d e f", config) == "too_long"
    assert drop_reason("a b c", "d e f g", config) == "length_ratio"  # 5/4 = 1.25
    assert drop_reason("abcde b c", "d e f", config) == "long_word"
    assert drop_reason("ab cd e1", "de fg hi", config) == "few_letters"  # 5 letters of 6 characters
    assert drop_reason("ab cd ef", "de fg hi", config) is None
    assert set(REASONS) >= {"too_short", "too_long", "length_ratio", "long_word", "few_letters"}


@pytest.mark.parametrize("longer", ["en", "de"])
def test_unequal_line_counts_fail_and_leave_nothing(tmp_path, longer):
    write_pair(tmp_path / "in", [GOOD, GOOD])
    with open(tmp_path / f"in.{longer}", "ab") as stream:
        stream.write(b"One more .\n")
    with pytest.raises(CleanError, match=rf"in\.{longer} goes on at line 3"):
        clean_corpus("en", "de", [str(tmp_path / "in")], str(tmp_path / "out"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.de", "in.en"]


def test_command_line_entry_writes_the_corpus_and_reports(tmp_path, capsys):
    write_pair(tmp_path / "raw" / "a", [GOOD, GOOD, (b"", b"x")])
    clean_main(["--source-lang", "en", "--target-lang", "de", "--inpref", str(tmp_path / "raw" / "a"),
                "--outpref", str(tmp_path / "clean" / "train"), "--max-ratio", "3"])
    assert "kept 1 of 3 pairs" in capsys.readouterr().out
    assert read_lines(tmp_path / "clean" / "train.en") == [GOOD[0].decode()]
    assert json.loads((tmp_path / "clean" / "train.clean.json").read_text())["config"]["max_ratio"] == 3.0


def test_command_line_entry_names_a_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit, match=r"error: --inpref .*nope: file .*nope\.en not found"):
        clean_main(["--source-lang", "en", "--target-lang", "de", "--inpref", str(tmp_path / "nope"),
                    "--outpref", str(tmp_path / "out")])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_scripts_pass_shellcheck():
    checked = subprocess.run(["shellcheck", "-S", "warning", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


SGM = """<srcset setid="newstest2014" srclang="any">
<doc sysid="ref" docid="1012-bbc" genre="news" origlang="en">
<p>
<seg id="1">Gutach: Increased safety for pedestrians</seg>
<seg id="2">  They are\tnot even 100 metres apart &amp; fine </seg>
</p>
<hl><seg id="3">A headline</seg></hl>
</doc>
</srcset>
"""


def test_sgm_segments_follow_sacrebleu(tmp_path):
    (tmp_path / "test.sgm").write_text(SGM, encoding="utf-8")
    sgm_main([str(tmp_path / "test.sgm"), str(tmp_path / "test.en")])
    assert read_lines(tmp_path / "test.en") == ["Gutach: Increased safety for pedestrians",
                                                "They are not even 100 metres apart &amp; fine"]


def test_sgm_segment_without_its_end_is_an_error(tmp_path):
    (tmp_path / "broken.sgm").write_text('<seg id="1">no end\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.sgm:1: a <seg> without its closing"):
        read_sgm_segments(tmp_path / "broken.sgm")


def sgm_document(lines) -> str:
    segments = "".join(f'<seg id="{number}">{line}</seg>\n' for number, line in enumerate(lines, start=1))
    return f'<srcset setid="test" srclang="any">\n<doc docid="1">\n<p>\n{segments}</p>\n</doc>\n</srcset>\n'


def write_archive(path: Path, members: dict) -> None:
    """A .tgz holding ``members`` (name inside the archive -> text), like the WMT downloads."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.mark.slow
def test_wmt_prepare_script_runs_offline_on_small_archives(tmp_path):
    """prepare.sh end to end with the five archives already downloaded (small stand-ins of the same layout)."""
    from vqnat.data.toy_corpus import write_toy_corpus

    raw = write_toy_corpus(tmp_path / "toy", n_train=240, n_valid=20, n_test=20)
    train = list(zip(read_lines(raw / "train.src"), read_lines(raw / "train.tgt")))
    corpora = {"training/europarl-v7.de-en": train[:80] + [("Ein", "Ein")],  # identical sides: dropped
               "commoncrawl.de-en": train[80:160] + train[:5],              # duplicates of europarl: dropped
               "training/news-commentary-v12.de-en": train[160:]}
    orig = tmp_path / "work" / "orig"
    orig.mkdir(parents=True)
    archives = {"training-parallel-europarl-v7.tgz": "training/europarl-v7.de-en",
                "training-parallel-commoncrawl.tgz": "commoncrawl.de-en",
                "training-parallel-nc-v12.tgz": "training/news-commentary-v12.de-en"}
    for archive, corpus in archives.items():
        pairs = corpora[corpus]
        write_archive(orig / archive, {f"{corpus}.en": "".join(en + "\n" for en, _ in pairs),
                                       f"{corpus}.de": "".join(de + "\n" for _, de in pairs)})
    splits = {split: (read_lines(raw / f"{split}.src"), read_lines(raw / f"{split}.tgt"))
              for split in ("valid", "test")}
    write_archive(orig / "dev.tgz", {"dev/newstest2013-src.en.sgm": sgm_document(splits["valid"][0]),
                                     "dev/newstest2013-ref.de.sgm": sgm_document(splits["valid"][1])})
    write_archive(orig / "test-full.tgz", {"test-full/newstest2014-deen-src.en.sgm": sgm_document(splits["test"][0]),
                                           "test-full/newstest2014-deen-ref.de.sgm": sgm_document(splits["test"][1])})

    environment = {"PATH": "/usr/bin:/bin", "WORK": str(tmp_path / "work"), "VOCAB": "200", "WORKERS": "1",
                   "PYTHON": sys.executable, "VQNAT": str(Path(sys.executable).with_name("vqnat")),
                   "OMP_NUM_THREADS": "1"}
    script = str(EXAMPLES / "wmt14_en_de" / "prepare.sh")
    first = subprocess.run(["bash", script], env=environment, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "downloading" not in first.stdout

    work = tmp_path / "work"
    assert list(zip(read_lines(work / "raw" / "train.en"), read_lines(work / "raw" / "train.de"))) == train
    report = json.loads((work / "raw" / "train.clean.json").read_text())
    assert (report["lines"], report["kept"], report["dropped"]["identical"], report["dropped"]["duplicate"]) == \
        (246, 240, 1, 5)
    for split, (sources, targets) in splits.items():
        assert read_lines(work / "raw" / f"{split}.en") == sources
        assert read_lines(work / "raw" / f"{split}.de") == targets
    manifest = json.loads((work / "data" / "manifest.json").read_text())
    assert {split: manifest["splits"][split]["kept"] for split in ("train", "valid", "test")} == \
        {"train": 240, "valid": 20, "test": 20}

    before = {path: path.stat().st_mtime_ns for path in work.rglob("*") if path.is_file()}
    again = subprocess.run(["bash", script], env=environment, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {path: path.stat().st_mtime_ns for path in work.rglob("*") if path.is_file()} == before


@pytest.mark.slow
def test_code_agreement_compares_each_checkpoint_s_codes_with_the_last_and_the_next(briefly_trained, toy_data,
                                                                                    tmp_path, capsys):
    import torch

    sys.path.insert(0, str(EXAMPLES))
    try:
        import code_agreement
    finally:
        sys.path.remove(str(EXAMPLES))
    trained = briefly_trained["vqnat"]
    state = torch.load(trained, map_location="cpu", weights_only=False)
    state["model"]["bottleneck.codebook"] = state["model"]["bottleneck.codebook"].flip(0)  # every code renamed
    renamed = tmp_path / "renamed.pt"
    torch.save(state, renamed)

    codes = code_agreement.split_codes(str(trained), str(toy_data), "valid")
    assert code_agreement.agreement(codes, code_agreement.split_codes(str(trained), str(toy_data), "valid")) == 1.0
    flipped = code_agreement.split_codes(str(renamed), str(toy_data), "valid")
    assert flipped.keys() == codes.keys() and code_agreement.agreement(codes, flipped) < 0.5
    code_agreement.main(["--data", str(toy_data), "--subset", "valid", str(renamed), str(trained)])
    rows = capsys.readouterr().out.strip().splitlines()
    share = 100 * code_agreement.agreement(flipped, codes)
    assert rows[2] == f"| {renamed} | {share:.1f}% | {share:.1f}% |" and rows[3] == f"| {trained} | 100.0% | – |"


def write_bench(path: Path, rows) -> Path:
    """A bench.json with only the fields budget_curve.py reads: (name, checkpoint, own, warm start, BLEU) rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"systems": [
        {"name": name, "checkpoint": checkpoint, "options": {}, "bleu": bleu,
         "training_updates": {"own": own, "warm_start": warm_start}}
        for name, checkpoint, own, warm_start, bleu in rows]}), encoding="utf-8")
    return path


def test_budget_curve_divides_by_the_reference_at_the_same_budget_and_counts_a_rebenched_row_once(tmp_path,
                                                                                                  capsys):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import budget_curve
    finally:
        sys.path.remove(str(EXAMPLES))
    first = write_bench(tmp_path / "a" / "bench.json", [("ar-3000", "ar3.pt", 3000, None, 30.0),
                                                        ("vq-2200+800", "vq.pt", 800, 2200, 24.0),
                                                        ("vq-lb4", "vq.pt", 800, 2200, 99.0)])
    second = write_bench(tmp_path / "b" / "bench.json", [("ar-4000", "ar4.pt", 4000, None, 32.0),
                                                         ("vq-3000+1000", "vq4.pt", 1000, 3000, 28.0),
                                                         ("vq-2200+800", "vq.pt", 800, 2200, 24.0),
                                                         ("vq-1000", "vq1.pt", 1000, None, 10.0)])
    out = tmp_path / "curve.png"
    budget_curve.main(["--reference", "AR=ar-*", "--series", "vqnat=vq-*+*,vq-1000", "--out", str(out),
                       str(first), str(second)])
    assert capsys.readouterr().out.strip().splitlines()[2:] == [
        "| AR | 3,000 | 30.00 | 1.00 |", "| AR | 4,000 | 32.00 | 1.00 |",
        "| vqnat | 1,000 | 10.00 | - |", "| vqnat | 3,000 | 24.00 | 0.80 |", "| vqnat | 4,000 | 28.00 | 0.88 |"]
    assert out.read_bytes().startswith(b"\x89PNG")

    with pytest.raises(SystemExit) as exited:
        budget_curve.main(["--reference", "AR=ar-*", "--series", "vqnat=nothing-*", "--out", str(out), str(first)])
    assert exited.value.code == 1 and "'vqnat'" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(SystemExit):
        budget_curve.main(["--reference", "AR=ar-*", "--series", "v=vq-*", "--out", str(out),
                           str(tmp_path / "broken.json")])
    assert "broken.json: not a vqnat bench.json" in capsys.readouterr().err

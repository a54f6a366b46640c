"""The bench's outputs: a markdown table shaped like the paper's Table 1, the raw JSON, the plot."""
import json
from pathlib import Path
from typing import Dict, List, Optional

from vqnat.atomic import atomic_write_text
from vqnat.bench.budget import describe_updates
from vqnat.bench.plot import plot_bleu_latency

DASH = "–"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _speedup(value: Optional[float]) -> str:
    return DASH if value is None else f"{value:.2f}×"


def _ratio(value: Optional[float]) -> str:
    return DASH if value is None else f"{value:.2f}"


def _uses_cuda(report: Dict) -> bool:
    return report["environment"]["device"].startswith("cuda")


def _peak_mb(system: Dict, cuda: bool) -> float:
    memory = system["memory"]
    return memory["cuda_peak_mb"] if cuda else memory["peak_rss_mb"]


def _markdown_table(header: List[str], rows: List[List[str]]) -> str:
    """A markdown table: the first column left-aligned, the (numeric) others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def render_table(report: Dict) -> str:
    """One row per system: training updates, BLEU (its ratio to AR greedy's; also at the reference's length,
    from oracle and from random codes), latency, speed-ups, steps, throughput, peak memory."""
    cuda = _uses_cuda(report)
    large = [size for size in report["settings"]["batch_sizes"] if size > 1]
    header = ["System", "Updates", "BLEU", "BLEU / AR greedy", "tok-BLEU", "BLEU, reference length",
              "BLEU, oracle codes", "BLEU, random codes", "BLEU, best candidate",
              "Latency median (ms)", "Latency p90 (ms)", "Speed-up vs beam", "Speed-up vs greedy", "Steps / sent."]
    for size in large:
        header += [f"Sent/s @{size}", f"Tok/s @{size}"]
    header.append("Peak GPU MB" if cuda else "Peak MB")
    rows = []
    for system in report["systems"]:
        by_size = {entry["batch_size"]: entry for entry in system["throughput"]}
        oracle = system.get("oracle_codes")
        cells = [system["name"], describe_updates(system.get("training_updates")) or DASH, f"{system['bleu']:.2f}",
                 _ratio(system.get("bleu_vs_greedy")), f"{system['tok_bleu']:.2f}",
                 *(DASH if oracle is None or oracle.get(key) is None else f"{oracle[key]:.2f}"
                   for key in ("reference_length_bleu", "bleu", "random_codes_bleu", "best_candidate_bleu")),
                 _ms(system["latency_ms"]["median"]), _ms(system["latency_ms"]["p90"]),
                 _speedup(system["speedup_vs_beam"]), _speedup(system["speedup_vs_greedy"]),
                 DASH if system["steps"] is None else f"{system['steps']['mean']:.1f}"]
        for size in large:
            cells += [f"{by_size[size]['sentences_per_s']:.1f}", f"{by_size[size]['tokens_per_s']:.0f}"]
        cells.append(f"{_peak_mb(system, cuda):.0f}")
        rows.append(cells)
    return _markdown_table(header, rows)


STAGE_COLUMNS = (("encoder", "Encoder"), ("sequential", "Sequential decoder passes"),
                 ("parallel", "Parallel decoder"), ("rest", "Rest"))


def render_stage_table(report: Dict) -> str:
    """Mean batch-1 milliseconds per sentence in each stage (``stages.py``): where each speed-up comes from."""
    header = ["System", *(f"{title} (ms)" for _, title in STAGE_COLUMNS), "Mean latency (ms)"]
    rows = [[system["name"], *(DASH if system["latency_by_stage_ms"] is None
                               else _ms(system["latency_by_stage_ms"][stage]["mean"]) for stage, _ in STAGE_COLUMNS),
             _ms(system["latency_ms"]["mean"])] for system in report["systems"]]
    return _markdown_table(header, rows)


def _latent_accuracies(report: Dict) -> str:
    """``(latent predictor accuracy on the reference codes: name 1.2%, ...)`` or nothing without vqnat rows."""
    accuracies = [f"{system['name']} {100 * system['oracle_codes']['latent_accuracy']:.1f}%"
                  for system in report["systems"] if system.get("oracle_codes")]
    return f" (latent predictor's next-code accuracy on them: {', '.join(accuracies)})" if accuracies else ""


def _length_notes(report: Dict) -> List[str]:
    """The length (and beam over codes) each vqnat row decoded with: its own options, or those `vqnat
    choose-length` recorded."""
    rows = [system for system in report["systems"] if system.get("decoding_length")]
    if not rows:
        return []
    lengths = "; ".join(f"{system['name']}: {system['decoding_length']['scale']:g}x"
                        + (", exact" if system["decoding_length"]["exact"] else "")
                        + (f", latent beam {system['latent_beam']}" if (system.get("latent_beam") or 1) > 1 else "")
                        for system in rows)
    return [f"- Decoding length (vqnat rows, times the predicted length; exact: no EOS before it): {lengths}."]


def _engine_notes(report: Dict) -> List[str]:
    """How rows with another engine or int8 weights ran (nothing when every row is PyTorch fp32)."""
    notes = []
    ct2 = [system for system in report["systems"] if system.get("engine") == "ct2" and system.get("kind") == "ar"]
    if ct2:
        notes.append(f"- engine=ct2: CTranslate2 {ct2[0]['environment']['ctranslate2']} (as many threads as "
                     "torch's) decodes the same source tokens with fairseq's length limits; hypotheses are scored "
                     "and timed like every other row. Its steps and stages are out of the hooks' reach (–); its "
                     "peak memory includes the fairseq model loaded for the task and dictionaries.")
    searches = [system for system in report["systems"]
                if system.get("engine") == "ct2" and system.get("kind") == "vqnat"]
    if searches:
        notes.append(f"- engine=ct2 on vqnat rows: CTranslate2 {searches[0]['environment']['ctranslate2']} runs the "
                     "latent predictor's whole greedy or beam search (it encodes the source again itself); the "
                     "encoder, the length and the parallel decoder run in ONNX Runtime as with engine=onnx. Steps "
                     "count one predictor pass a code; the search's time is the sequential stage.")
    onnx = [system for system in report["systems"] if system.get("engine") == "onnx"]
    if onnx:
        notes.append(f"- engine=onnx: ONNX Runtime {onnx[0]['environment']['onnxruntime']} (as many threads as "
                     "torch's) runs the encoder, the latent predictor (a parallel one's pass, an autoregressive one's "
                     "steps over its key/value cache) and the parallel decoder exported to ONNX; the glue between "
                     "them (the search over codes included) is vqnat's PyTorch code. quantize=int8: ONNX Runtime's dynamic "
                     "quantization (int8 weights of every matrix product, the token projection included).")
    if any(system.get("engine") == "torch" and system.get("quantize") == "int8" for system in report["systems"]):
        notes.append("- engine=torch, quantize=int8: every Linear layer with int8 weights and dynamically "
                     "quantized activations (torch.ao.quantization.quantize_dynamic); embeddings, and vqnat's "
                     "token projection (a product with the embedding matrix), stay fp32.")
    return notes


def render_notes(report: Dict) -> List[str]:
    """How every column was measured, and on what."""
    settings, environment, references = report["settings"], report["environment"], report["references"]
    first = report["systems"][0]
    sentences = first["sentences"]
    baseline = min(system["memory"]["baseline_rss_mb"] for system in report["systems"])
    return [
        f"- Test set: `{settings['subset']}` of `{settings['data']}`, {sentences} sentences.",
        f"- BLEU: sacreBLEU on detokenized output (`{first['bleu_signature']}`); tok-BLEU: Moses-tokenized "
        f"hypotheses and references (`{first['tok_bleu_signature']}`).",
        "- BLEU, oracle codes (vqnat): sacreBLEU of the decoder given the codes the bottleneck assigns to "
        "each reference, ended at the reference's length; the gap to BLEU is what the latent predictor and "
        "the predicted length lose"
        + _latent_accuracies(report) + ". BLEU, reference length: the latent predictor's own codes, as many "
        "as the reference's, ended at the reference's length; its gain over BLEU is the predicted length's "
        "share of that gap, the rest is the codes'. BLEU, random codes: the same decoder given as many codes "
        "drawn uniformly at random, the chance level of the latent predictor. BLEU, best candidate (vqnat "
        "rows with a length beam, sampled codes or a rescoring teacher): each sentence's candidate closest to its reference "
        "by sentence BLEU, the bound on what ranking the candidates can reach.",
        f"- Latency: batch 1, every sentence, after {settings['warmup']} warm-up sentences; "
        f"{environment['threads']} torch thread(s) on {environment['device']} "
        f"({environment['device_name'] if _uses_cuda(report) else environment['cpu_model']}).",
        "- Updates: the checkpoint's training updates; a vqnat model warm-started from an AR teacher: the "
        "teacher's + its own, the budget an AR model needs for an equal comparison.",
        f"- Speed-up = reference median / system median; BLEU / AR greedy = system BLEU / reference BLEU; "
        f"AR beam: {references['beam'] or DASH}, AR greedy: {references['greedy'] or DASH}.",
        "- Steps: sequential decoder passes per sentence at batch 1 (counted with forward hooks; "
        "AR: one per output token including EOS; vqnat: autoregressive latent predictor per latent, or one "
        "pass of the parallel one, + parallel decoder, + one teacher pass when rescoring).",
        "- Latency by stage (second table): mean batch-1 milliseconds per sentence in the encoder, in the "
        "sequential decoder passes (AR decoder with its output projection; vqnat latent predictor with its code "
        "softmax: one step per latent, or each pass of the parallel one), in the parallel decoder (vqnat: "
        "decompression, decoder pass and token projection, and a rescoring teacher's pass; fairseq NAT: every "
        "refinement pass) "
        "and in the rest of generation (search, length prediction, hypotheses); "
        "the four add up to the mean latency.",
        *_length_notes(report),
        *_engine_notes(report),
        "- Throughput: target tokens exclude EOS; warm-up batch excluded.",
        ("- Peak GPU MB: torch.cuda.max_memory_allocated in the system's own process."
         if _uses_cuda(report) else
         f"- Peak MB: maximum resident memory of the system's own process (Python, torch and fairseq "
         f"alone take about {baseline:.0f} MB before the model is loaded)."),
        f"- torch {environment['torch']}, fairseq {environment['fairseq']}, Python {environment['python']}, "
        f"{environment['platform']}.",
    ]


def render_markdown(report: Dict) -> str:
    """The tables and their notes, as printed and as written to bench.md."""
    return "\n".join([render_table(report), "", render_stage_table(report), "", *render_notes(report)]) + "\n"


def write_reports(report: Dict, out_dir: Path) -> Dict[str, Path]:
    """``bench.md``, ``bench.json`` and ``bench.png`` in ``out_dir``, each written atomically."""
    out_dir = Path(out_dir)
    paths = {"markdown": out_dir / "bench.md", "json": out_dir / "bench.json", "plot": out_dir / "bench.png"}
    atomic_write_text(paths["json"], json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(paths["markdown"], render_markdown(report))
    environment = report["environment"]
    title = (f"{report['settings']['subset']} ({report['systems'][0]['sentences']} sentences), batch 1, "
             f"{environment['threads']} thread(s), {environment['device']}")
    plot_bleu_latency(report["systems"], paths["plot"], title)
    return paths

#!/usr/bin/env python
"""Classifier throughput benchmark (run by hand; not a test).

    .venv/bin/python bench/classifier_throughput.py            # writes bench/CLASSIFIER.md
    .venv/bin/python bench/classifier_throughput.py --no-write --comments 60 --rounds 1

What it does, fully offline (HF_HUB_OFFLINE=1):

1. Builds a model of Detoxify's ``original`` architecture (bert-base-uncased
   shape: 12 layers, hidden 768, 12 heads, vocab 30522, 512 positions, 6
   labels), randomly initialised, and saves it as a Detoxify-format checkpoint
   plus a Hugging Face config dir. The tokenizer is the test model's
   WordPiece tokenizer (its ids are a subset of the 30522). The
   classification head is rescaled so that the logits spread over about +-4
   (scores spread around 0.5, where the sigmoid is steepest, instead of all
   ~0.5): differences between precisions then show up in the scores.
2. Generates distinct comments of mixed lengths (one sentence to a few
   hundred words) from the shipped labelled sample.
3. Measures comments/second, with the configured number of torch threads, for
   - baseline: ``Detoxify.predict(text)``, one comment at a time (fp32);
   - ``DetoxifyClassifier.score()`` in every runtime x precision setting
     (``torch``/``openvino`` x ``fp32``/``bf16``), with 64, 16 (the app's
     default ``SCORING_COMMENTS_PER_BATCH`` until 2026-12-06; 48 since) and 1 comment(s) per call.
   The settings run in ``--rounds`` interleaved rounds (order rotated every
   round). The headline is each setting's best round (the usual minimum-time
   measure: other load on the machine only ever slows a run down); the median
   of the per-round ratios and every round's figure are reported too.
4. Measures the largest per-label score difference vs torch fp32 for each
   setting, on the bert-base-shaped model and on the trained test model.

``Detoxify.predict`` truncates at 512 tokens while ``score()`` scores every
window of longer comments, so ``score()`` does more work on those.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import transformers  # noqa: E402

from comments.classifier.detoxify_backend import DetoxifyClassifier  # noqa: E402
from comments.classifier.testmodel import (  # noqa: E402
    build_test_model,
    load_labelled_sample,
    save_detoxify_checkpoint,
    train_wordpiece_tokenizer,
)

transformers.utils.logging.disable_progress_bar()

Scores = list[dict[str, float]]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    cpu, isa = "unknown", []
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = next(line.split(":", 1)[1].split() for line in lines if line.startswith("flags"))
        isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags]
    except (OSError, StopIteration):
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": nproc,
        "cpu": cpu,
        "isa": " ".join(isa),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "openvino": _openvino_version(),
    }


def _openvino_version() -> str:
    from comments.classifier.openvino_runtime import import_openvino

    return import_openvino().get_version()


def build_bert_base(work: Path, seed: int = 0) -> tuple[Path, Path, str]:
    """A randomly initialised bert-base-shaped Detoxify checkpoint (+ config dir)."""
    from transformers import BertConfig, BertForSequenceClassification

    sample = load_labelled_sample()
    tokenizer = train_wordpiece_tokenizer([e.text for e in sample if e.split == "train"])
    config = BertConfig(num_labels=6, pad_token_id=tokenizer.pad_token_id)  # bert-base-uncased shape
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (12, 768, 30522)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    with torch.inference_mode():  # spread the logits (std ~2) like a trained head would
        enc = tokenizer([e.text for e in sample[::3]], padding=True, return_tensors="pt")
        logits = model(**enc).logits
        model.classifier.weight.mul_(2.0 / logits.std().item())
        model.classifier.bias.sub_(logits.mean(0) * 2.0 / logits.std().item())
    ckpt = work / "bert-base-random.ckpt"
    cfg_dir = work / "bert-base-config"
    sha = save_detoxify_checkpoint(model, tokenizer, ckpt, cfg_dir)
    return ckpt, cfg_dir, sha


def make_comments(n: int, seed: int = 1) -> list[str]:
    """Distinct comments: 40% one sentence, 30% 3-6, 20% 10-20, 10% 25-40 sentences."""
    rng = random.Random(seed)
    sentences = [e.text for e in load_labelled_sample()]
    buckets = [(0.4, (1, 1)), (0.3, (3, 6)), (0.2, (10, 20)), (0.1, (25, 40))]
    out: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        x = (i + 0.5) / n
        acc = 0.0
        for share, (lo, hi) in buckets:  # noqa: B007 (the bucket the loop stops at is used below)
            acc += share
            if x <= acc:
                break
        while True:
            text = " ".join(rng.sample(sentences, rng.randint(lo, hi)))
            if text not in seen:
                seen.add(text)
                out.append(text)
                break
    rng.shuffle(out)
    return out


#: (runtime, precision) settings besides the torch fp32 reference, in table order.
SETTINGS = [("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16")]


def label(runtime: str, precision: str) -> str:
    return f"`{runtime}` {precision}"


def max_diff(a: Scores, b: Scores) -> float:
    return max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in x)


def run(args: argparse.Namespace) -> str:
    info = machine()
    info["load_start"] = loadavg()
    log(f"machine: {info}")
    torch.set_num_threads(args.threads)
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="classifier-bench-") as tmp:
            return run_in(args, info, Path(tmp))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    return run_in(args, info, work)


def run_in(args: argparse.Namespace, info: dict[str, str], work: Path) -> str:
    threads = args.threads

    log("building the bert-base-shaped model ...")
    ckpt, cfg_dir, sha = build_bert_base(work)
    log(f"  {ckpt.stat().st_size / 1e6:.0f} MB checkpoint")

    load_times: dict[str, float] = {}

    def load(
        runtime: str, precision: str, checkpoint: Path = ckpt, config: Path = cfg_dir, pin: str = sha
    ) -> DetoxifyClassifier:
        start = time.perf_counter()
        clf = DetoxifyClassifier(
            model_type="original",
            checkpoint=checkpoint,
            checkpoint_sha256=pin,
            config_dir=config,
            threads=threads,
            windows_per_pass=args.windows_per_pass,
            precision=precision,
            runtime=runtime,
        )
        elapsed = time.perf_counter() - start
        if checkpoint == ckpt:
            load_times[label(runtime, precision)] = elapsed
        log(f"  loaded {runtime} {precision} in {elapsed:.1f}s")
        return clf

    fp32 = load("torch", "fp32")
    others = {setting: load(*setting) for setting in SETTINGS}
    detox = fp32.detoxify  # a plain detoxify.Detoxify: the baseline

    comments = make_comments(args.comments)
    warm = make_comments(8, seed=99)
    tok = fp32.detoxify.tokenizer
    lengths = [len(ids) for ids in tok(comments, add_special_tokens=False, verbose=False)["input_ids"]]
    words = [len(c.split()) for c in comments]
    log(
        f"{len(comments)} comments; words min/median/max {min(words)}/{statistics.median(words):.0f}/{max(words)}; "
        f"{sum(lengths)} tokens"
    )

    def batched(clf: DetoxifyClassifier, call: int) -> Callable[[list[str]], Scores]:
        return lambda cs: [r for i in range(0, len(cs), call) for r in clf.score(cs[i : i + call])]

    def row(runtime: str, precision: str, call: int) -> str:
        return f"`score()` {label(runtime, precision)}, {call} comment{'s' if call > 1 else ''}/call"

    baseline = "baseline: `Detoxify.predict`, 1 comment/call, fp32"
    fp32_ref = row("torch", "fp32", 64)
    settings: list[tuple[str, Callable[[list[str]], object]]] = [(baseline, lambda cs: [detox.predict(c) for c in cs])]
    for setting, clf in [(("torch", "fp32"), fp32), *others.items()]:
        settings += [(row(*setting, call), batched(clf, call)) for call in args.calls]
    for _, fn in settings:
        fn(warm)

    times: dict[str, list[float]] = {name: [] for name, _ in settings}
    results: dict[str, object] = {}
    round_loads: list[str] = []
    for rnd in range(args.rounds):
        round_loads.append(loadavg().split()[0])
        order = settings[rnd % len(settings) :] + settings[: rnd % len(settings)]
        for name, fn in order:
            start = time.perf_counter()
            results[name] = fn(comments)
            cps = len(comments) / (time.perf_counter() - start)
            times[name].append(cps)
            log(f"round {rnd + 1}: {name}: {cps:.2f} comments/s")
    base_name = baseline
    rows = []
    for name, _ in settings:
        ratios = [t / b for t, b in zip(times[name], times[base_name])]
        rows.append(
            (name, max(times[name]), max(times[name]) / max(times[base_name]), statistics.median(ratios), times[name])
        )

    ref: Scores = results[fp32_ref]  # type: ignore[assignment]
    diffs_base = {label(*st): max_diff(results[row(*st, 64)], ref) for st in SETTINGS}  # type: ignore[arg-type]
    short = [i for i, n in enumerate(lengths) if n <= 510]
    predict_diff = max(
        abs(results[base_name][i][k] - ref[i][k])
        for i in short
        for k in ref[i]  # type: ignore[index]
    )
    base_scores = sorted(v for r in ref for v in r.values())
    del fp32, others, results, settings
    gc.collect()

    log("building the trained test model ...")
    tm = build_test_model(work / "test-model")
    texts = [e.text for e in load_labelled_sample()] + comments
    tm_ref = load("torch", "fp32", tm.checkpoint_path, tm.config_dir, tm.sha256).score(texts)
    diffs_test = {
        label(*st): max_diff(load(*st, tm.checkpoint_path, tm.config_dir, tm.sha256).score(texts), tm_ref)
        for st in SETTINGS
    }
    tm_scores = sorted(v for r in tm_ref for v in r.values())

    # The same differences on other random initialisations of the bert-base shape.
    diffs_seeds: dict[int, dict[str, float]] = {}
    for seed in args.extra_seeds:
        log(f"building the bert-base-shaped model with seed {seed} ...")
        s_ckpt, s_cfg, s_sha = build_bert_base(work / f"seed-{seed}", seed=seed)
        s_ref = load("torch", "fp32", s_ckpt, s_cfg, s_sha).score(comments)
        diffs_seeds[seed] = {
            label(*st): max_diff(load(*st, s_ckpt, s_cfg, s_sha).score(comments), s_ref) for st in SETTINGS
        }
        gc.collect()
    info["load_end"] = loadavg()
    info["round_loads"] = ", ".join(round_loads)

    table = [
        "| setting | comments/s (best round) | × baseline (best vs best) | × baseline (median of per-round ratios) "
        "| comments/s per round |",
        "|---|---:|---:|---:|---|",
    ]
    for name, best, ratio, median_ratio, per_round in rows:
        table.append(
            f"| {name} | {best:.2f} | **{ratio:.2f}×** | {median_ratio:.2f}× | {', '.join(f'{t:.1f}' for t in per_round)} |"
        )
    seed_heads = "".join(f" | bert-base-shaped, seed {seed}" for seed in diffs_seeds)
    diff_table = [
        "| setting (`CLASSIFIER_RUNTIME` precision) | max diff vs torch fp32, bert-base-shaped model (seed 0) "
        f"| trained test model{seed_heads} | within 0.02 | start-up (load + convert), bert-base-shaped |",
        "|---|---:|---:|" + "---:|" * len(diffs_seeds) + "---|---:|",
        f"| {label('torch', 'fp32')} | reference | reference |"
        + " reference |" * len(diffs_seeds)
        + f" | {load_times[label('torch', 'fp32')]:.1f} s |",
    ]
    for p in diffs_base:
        all_diffs = [diffs_base[p], diffs_test[p], *(d[p] for d in diffs_seeds.values())]
        ok = "yes" if max(all_diffs) <= 0.02 else "**no**"
        diff_table.append(
            f"| {p} | " + " | ".join(f"{d:.2g}" for d in all_diffs) + f" | {ok} | {load_times[p]:.1f} s |"
        )
    summary = {
        "comments": len(comments),
        "words": (min(words), statistics.median(words), max(words)),
        "tokens": sum(lengths),
        "longest": max(lengths),
        "multi_window": sum(n > 510 for n in lengths),
        "base_spread": (base_scores[0], statistics.median(base_scores), base_scores[-1]),
        "test_spread": (tm_scores[0], statistics.median(tm_scores), tm_scores[-1]),
        "test_texts": len(texts),
        "predict_diff": predict_diff,
        "short": len(short),
    }
    ratio = {name: (r, m) for name, _, r, m, _ in rows}

    def met(r: float, m: float, target: float) -> str:  # judged on the best rounds (see Notes)
        return "yes" if r >= target else "**no**"

    lines = ["| target | setting | measured (64 comments/call) | met |", "|---|---|---|---|"]
    for st in [("torch", "fp32"), ("openvino", "fp32")]:
        r, m = ratio[row(*st, 64)]
        lines.append(
            f"| full precision ≥ 1.5× baseline | {label(*st)} | {r:.2f}× (best rounds), {m:.2f}× "
            f"(median ratio) | {met(r, m, 1.5)} |"
        )
    for st in [("torch", "bf16"), ("openvino", "bf16")]:
        r, m = ratio[row(*st, 64)]
        lines.append(
            f"| fastest setting ≥ 5× baseline | {label(*st)} | {r:.2f}× (best rounds), {m:.2f}× "
            f"(median ratio) | {met(r, m, 5)} |"
        )
    for st in SETTINGS:
        worst = max(diffs_base[label(*st)], diffs_test[label(*st)], *(d[label(*st)] for d in diffs_seeds.values()))
        lines.append(
            f"| max score difference vs fp32 ≤ 0.02 | {label(*st)} | {worst:.2g} | "
            f"{'yes' if worst <= 0.02 else '**no**'} |"
        )
    targets = "\n".join(lines)
    return render(info, args, "\n".join(table), "\n".join(diff_table), summary, targets)


def render(info: dict[str, str], args: argparse.Namespace, table: str, diff_table: str, s: dict, targets: str) -> str:
    return f"""# Classifier throughput

Generated by `bench/classifier_throughput.py` (run by hand:
`.venv/bin/python bench/classifier_throughput.py`, with the `openvino` extra installed;
10-15 minutes on 2 cores).

## Machine

- date: {info["date"]}
- `nproc`: {info["nproc"]}; torch threads: {args.threads}
- CPU: {info["cpu"]} (flags: {info["isa"]})
- Python {info["python"]}, torch {info["torch"]}, transformers {info["transformers"]},
  OpenVINO {info["openvino"]}
- load average at start / end: {info["load_start"]} / {info["load_end"]}; 1-minute load average
  at the start of each round: {info["round_loads"]}. The machine was shared with other work
  while this ran (the 2 cores are all the benchmark uses, so any load above ~2 slows it down):
  the settings run in {args.rounds} interleaved rounds (order rotated each round); the headline
  figure is each setting's best round, next to the median of its per-round ratios to the
  baseline, and every round is listed.

## Setup

- Model: Detoxify `original` architecture (bert-base-uncased shape: 12 layers, hidden 768,
  vocab 30522, 512 positions, 6 labels), randomly initialised; its classification head is
  rescaled and centred so the scores are not all ~0.5 but spread around it, where the
  sigmoid is steepest and precision errors show the most (fp32 min/median/max
  {s["base_spread"][0]:.3f}/{s["base_spread"][1]:.3f}/{s["base_spread"][2]:.3f}). Saved as a
  Detoxify checkpoint and loaded through `DetoxifyClassifier` → `detoxify.Detoxify(...)`, offline.
- Comments: {s["comments"]} distinct comments built from the labelled sample's sentences: 40% one
  sentence, 30% 3-6, 20% 10-20, 10% 25-40 sentences; words min/median/max
  {s["words"][0]}/{s["words"][1]:.0f}/{s["words"][2]}; {s["tokens"]} tokens in all (longest {s["longest"]};
  {s["multi_window"]} comments need more than one 512-token window: `Detoxify.predict` truncates
  those, `score()` scores all their windows).
- `score()`: windows sorted by length and batched (a pass holds at most {args.windows_per_pass} full
  windows' worth of tokens, with little padding), `torch.inference_mode()`. "N comments/call" is
  a worker scoring N queued comments per call (16 was the app's default `SCORING_COMMENTS_PER_BATCH`
  until 2026-12-06, 48 since);
  "1 comment/call" is one comment at a time, as the baseline.

## Targets

{targets}

## Throughput

{table}

## Score differences vs fp32 (largest per-label absolute difference over all texts)

{diff_table}

The bert-base-shaped model was scored on the {s["comments"]} benchmark comments, the trained
test model (`comments.classifier.testmodel`; fp32 scores min/median/max
{s["test_spread"][0]:.3f}/{s["test_spread"][1]:.3f}/{s["test_spread"][2]:.3f}) on {s["test_texts"]} texts (the
labelled sample plus the benchmark comments). On the {s["short"]} comments that fit one window,
`score()` in fp32 and `Detoxify.predict` differ by at most {s["predict_diff"]:.1e} (same model,
only padding differs).

## Notes

- Reading the ratios: in a loaded round the baseline (96 small forward passes, each
  synchronising 2 threads per operation) slows down much more than batched scoring, so ratios
  from loaded rounds overstate the gains, and the median of per-round ratios with them. The
  best rounds (the quiet ones) are the figures to trust; the targets are judged on them.
- `openvino` (`CLASSIFIER_RUNTIME=openvino`): at start-up the Detoxify model, as loaded by
  `Detoxify(...)` (fp32 weights), is traced by `openvino.convert_model` (example inputs with
  padding) and compiled for the CPU with `INFERENCE_PRECISION_HINT` `f32` or `bf16`,
  `PERFORMANCE_HINT=LATENCY` and the configured threads; `score()` then feeds it the same
  windows and batches. Its fp32 gains come from OpenVINO's fused kernels (attention, layer norm,
  GELU; prepacked weights); OpenVINO fp32 is true float32 (differences of ~1e-6, summation order
  only). In bf16 the matrix multiplications run on AMX where the CPU has it, else on AVX512-BF16
  (`vdpbf16ps`; about half AMX's gain). OpenVINO's bf16 keeps less in float32 than the torch
  `bf16` setting (its residual stream, layer norms and head run in bfloat16 too: every
  FullyConnected, MVN and Eltwise of the compiled model reports `bf16`), hence its larger
  difference; marking operations precision-sensitive (`disable_fp16_compression_0` /
  `precise_0` rt_info) does not change that in the CPU plugin.
- torch `bf16` is mixed precision limited to the encoder: its Linear weights are stored in
  bfloat16 and it runs under `torch.autocast(bfloat16)`, the residual stream and LayerNorm stay
  float32. On CPUs without AMX / AVX512-BF16, bfloat16 is emulated and slower than fp32: use `fp32`.
- openvino's converter would send usage events to Google Analytics (`openvino-telemetry`,
  on by default without a consent file); the classifier imports openvino with that package
  blocked, so the converter uses its no-op stub (checked by a test).
- The fp32 gains of the torch runtime come from batching short comments only: long comments
  cost the same as in the baseline.
- Settings measured by hand and not offered (int8 and others) are listed below the generated
  part, with the machine and date they were measured on.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=96, help="number of benchmark comments")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--windows-per-pass", type=int, default=16)
    parser.add_argument(
        "--extra-seeds",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[1, 2],
        help="score differences also on bert-base-shaped models with these random seeds (comma-separated)",
    )
    parser.add_argument(
        "--calls",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[64, 16, 1],
        help="comments per score() call to measure, comma-separated (64 is always needed)",
    )
    parser.add_argument("--workdir", help="where to keep the models (default: a temp dir, removed afterwards)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "CLASSIFIER.md"))
    parser.add_argument("--no-write", action="store_true", help="print the report instead of writing it")
    args = parser.parse_args()
    started = time.perf_counter()
    report = run(args)
    log(f"total {time.perf_counter() - started:.0f}s")
    if args.no_write:
        print(report)
    else:
        Path(args.output).write_text(report, encoding="utf-8")
        log(f"wrote {args.output}")


if __name__ == "__main__":
    main()

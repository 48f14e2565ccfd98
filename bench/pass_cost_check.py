#!/usr/bin/env python
"""Why was ``score()`` in torch fp32 below ``Detoxify.predict`` in a noisy throughput run? (by hand)

    .venv/bin/python bench/pass_cost_check.py [--comments 96] [--repeats 10] [--threads 2]

On the bert-base-shaped model and the comment mix of ``classifier_throughput.py``, for torch fp32
and bf16:

1. the start-up measurement of the pass cost (``DetoxifyClassifier._measure_pass_cost``) taken
   ``--repeats`` times in a row, as the machine's load at that moment lets it come out;
2. what each pass cost does to the plan of 64 comments per call (passes, padded tokens, and
   rows x width^2, which the attention grows with), computed exactly;
3. comments/s of ``score()`` with the pass cost forced to 8 (the lower bound), the measured
   median and 4096 (the upper bound, what a disturbed measurement gives), next to
   ``Detoxify.predict`` one at a time, interleaved, best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import torch  # noqa: E402
from classifier_throughput import build_bert_base, loadavg, log, machine, make_comments  # noqa: E402

from comments.classifier import planner  # noqa: E402
from comments.classifier.detoxify_backend import DetoxifyClassifier  # noqa: E402


def plan_stats(clf: DetoxifyClassifier, comments: list[str], pass_cost: int, call: int) -> tuple[int, int, float]:
    passes = padded = attention = 0
    for i in range(0, len(comments), call):
        ids, _ = clf.encode(comments[i : i + call])
        work = planner.plan(ids, clf.windowing, windows_per_pass=clf.windows_per_pass, pass_cost_tokens=pass_cost)
        for chunk in work.passes:
            width = max(len(work.windows[k]) for k in chunk)
            passes += 1
            padded += len(chunk) * width
            attention += len(chunk) * width * width
    return passes, padded, attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--call", type=int, default=64)
    parser.add_argument("--precisions", default="fp32,bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log(f"machine: {machine()}; load {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="pass-cost-") as tmp:
        ckpt, cfg, sha = build_bert_base(Path(tmp))
        comments = make_comments(args.comments)
        models = {
            precision: DetoxifyClassifier(
                checkpoint=ckpt, checkpoint_sha256=sha, config_dir=cfg, threads=args.threads, precision=precision
            )
            for precision in args.precisions.split(",")
        }
        measured: dict[str, int] = {}
        for precision, clf in models.items():
            values = []
            for _ in range(args.repeats):
                values.append(clf._measure_pass_cost())
            measured[precision] = int(statistics.median(values))
            print(f"{precision}: pass cost measured {args.repeats}x (load {loadavg()}): {values}")
        costs = sorted({planner.PASS_COST_BOUNDS[0], *measured.values(), planner.PASS_COST_BOUNDS[1]})
        print(f"\nplans of {len(comments)} comments, {args.call} per call:")
        print("| pass cost | passes | padded tokens | rows x width^2 (attention) |")
        print("|---:|---:|---:|---:|")
        for cost in costs:
            passes, padded, attention = plan_stats(models["fp32"], comments, cost, args.call)
            print(f"| {cost} | {passes} | {padded} | {attention / 1e6:.1f} M |")
        ids, _ = models["fp32"].encode(comments)
        print(f"(tokens in the comments: {sum(len(i) for i in ids)})")

        detox = models["fp32"].detoxify
        runs = {"predict, 1 comment/call (fp32)": lambda: [detox.predict(c) for c in comments]}
        for precision, clf in models.items():
            for cost in costs if precision == "fp32" else [measured[precision]]:

                def run(clf: DetoxifyClassifier = clf, cost: int = cost) -> None:
                    clf.pass_cost_tokens = cost
                    for i in range(0, len(comments), args.call):
                        clf.score(comments[i : i + args.call])

                runs[f"score() {precision}, pass cost {cost}"] = run
        warm = comments[: args.call]
        detox.predict(warm[0])
        for clf in models.values():
            clf.score(warm[:8])
        best: dict[str, list[float]] = {name: [] for name in runs}
        for rnd in range(args.rounds):
            for name, fn in runs.items():
                started = time.perf_counter()
                fn()
                best[name].append(len(comments) / (time.perf_counter() - started))
                log(f"round {rnd + 1} {name}: {best[name][-1]:.2f}/s (load {loadavg()})")
        base = max(best["predict, 1 comment/call (fp32)"])
        print(f"\n| run ({args.threads} torch threads) | comments/s (best) | x predict | per round |")
        print("|---|---:|---:|---|")
        for name, values in best.items():
            print(
                f"| {name} | {max(values):.2f} | {max(values) / base:.2f}x | {', '.join(f'{v:.1f}' for v in values)} |"
            )


if __name__ == "__main__":
    main()

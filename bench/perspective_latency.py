#!/usr/bin/env python
"""Latency of the analyze path under an open-loop load (run by hand; not a test).

    .venv/bin/python bench/perspective_latency.py                      # every setting, ~20 min
    .venv/bin/python bench/perspective_latency.py --settings naive,torch-bf16-t1 --seconds 20

What it measures, fully offline (HF_HUB_OFFLINE=1), one server at a time on this machine:

- the model: a randomly initialised bert-base-shaped Detoxify ``original`` checkpoint, the one of
  ``bench/classifier_throughput.py`` (speed does not depend on the weights);
- the texts: the realistic comment mix of that benchmark (40% one sentence, 30% 3-6, 20% 10-20,
  10% 25-40 sentences of the labelled sample), 200 distinct comments, sent in a fixed shuffled
  order;
- the servers, each a gunicorn process (1 worker, gthread, 32 threads) with a bare Flask view
  ``POST /analyze {"text"}``:
  - ``naive``: ``Detoxify.predict(text)`` per request (under a lock: predict is not thread-safe),
    torch fp32 with torch's default threads (one per core): the integration one writes first;
  - ``<runtime>-<precision>-t<threads>``: :func:`comments.tasks.analyzer.analyze` (the shared
    batching scorer, the same code the web process runs) with ``COMMENTS_CLASSIFIER_RUNTIME``,
    ``_PRECISION`` and ``_THREADS`` set so;
- the load: Poisson arrivals at 5, 10 and 20 requests/s (open loop: each request is sent at its
  time whether or not earlier ones were answered, and its latency counts from that time), then
  more rates up or down until the highest rate at which p99 stays under 800 ms (Coral's timeout)
  is bracketed; a request not answered within 10 s counts as 10 s.

It prints a Markdown table and writes every measurement to ``bench/.work/results/``.
Score differences: every setting's summaries against ``torch-fp32`` (the shared scorer in fp32,
which scores like the pipeline) on the texts both answered.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 800.0
GIVE_UP_S = 10.0
BASE_RATES = (5.0, 10.0, 20.0)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# --- the server (runs in gunicorn) ------------------------------------------------------------


def make_app():  # type: ignore[no-untyped-def]
    """The Flask app gunicorn serves: a bare view over the naive model or the shared scorer."""
    from flask import Flask, jsonify, request

    setting = os.environ["BENCH_SETTING"]
    checkpoint, config_dir, sha = (os.environ[k] for k in ("BENCH_CKPT", "BENCH_CONFIG", "BENCH_SHA"))
    app = Flask(__name__)
    if setting == "naive":
        from comments.classifier import load_classifier

        # The same verified, offline load as the app's; then only its detoxify.Detoxify is used.
        detox = load_classifier(
            {
                "CLASSIFIER_CHECKPOINT": checkpoint,
                "CLASSIFIER_CHECKPOINT_SHA256": sha,
                "CLASSIFIER_CONFIG_DIR": config_dir,
            }
        ).detoxify
        lock = threading.Lock()

        @app.post("/analyze")
        def naive():  # type: ignore[no-untyped-def]
            text = request.get_json()["text"]
            with lock:
                scores = detox.predict(text)
            return jsonify(summary={k: float(v) for k, v in scores.items()}, spans=1)

    else:
        from comments.tasks.analyzer import SharedScorer

        runtime, precision, threads = setting.split("-")
        scorer = SharedScorer(
            {
                "CLASSIFIER_CHECKPOINT": checkpoint,
                "CLASSIFIER_CHECKPOINT_SHA256": sha,
                "CLASSIFIER_CONFIG_DIR": config_dir,
                "CLASSIFIER_RUNTIME": runtime,
                "CLASSIFIER_PRECISION": precision,
                "CLASSIFIER_THREADS": int(threads.removeprefix("t")),
            }
        )
        pipeline, _ = scorer.holder.get()  # loaded before the server answers
        if os.environ.get("BENCH_PIPELINE_RATE"):
            raw, _ = scorer.holder.loaded()
            target = raw if os.environ.get("BENCH_PIPELINE_DIRECT") else pipeline
            assert target is not None
            _start_pipeline(target, float(os.environ["BENCH_PIPELINE_RATE"]))

        @app.post("/analyze")
        def ours():  # type: ignore[no-untyped-def]
            text = request.get_json()["text"]
            analysis = scorer.analyze([text], timeout=GIVE_UP_S)[0]
            return jsonify(summary=analysis.summary, spans=len(analysis.spans))

        @app.get("/stats")
        def stats():  # type: ignore[no-untyped-def]
            return jsonify(passes=scorer.passes, analyzed=scorer.analyzed)

    @app.get("/ready")
    def ready():  # type: ignore[no-untyped-def]
        return "ok"

    return app


def _start_pipeline(classifier, rate: float) -> None:  # type: ignore[no-untyped-def]
    """The comment pipeline's load: each second, the comments posted in it (``rate`` of the same
    mix) scored as one batch, as the in-process worker does; it falls behind if it must."""
    from classifier_throughput import make_comments

    comments = make_comments(400, seed=11)

    def run() -> None:
        n = 0
        while True:
            started = time.monotonic()
            count = max(1, round(rate))
            classifier.score([comments[(n + i) % len(comments)] for i in range(count)])
            n += count
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    threading.Thread(target=run, daemon=True, name="bench-pipeline").start()


# --- the client -------------------------------------------------------------------------------


def post(port: int, text: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GIVE_UP_S)
    try:
        conn.request("POST", "/analyze", body=json.dumps({"text": text}), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def open_loop(port: int, texts: list[str], rate: float, seconds: float, seed: int) -> dict:
    """Poisson arrivals at ``rate``/s for ``seconds``; latency from each request's scheduled time."""
    rng = random.Random(seed)
    schedule, at = [], 0.0
    while True:
        at += rng.expovariate(rate)
        if at >= seconds:
            break
        schedule.append(at)
    latencies: list[float] = [math.inf] * len(schedule)
    answers: dict[int, dict] = {}
    errors: list[str] = []
    load_before = loadavg()

    def one(i: int, due: float) -> None:
        text_index = i % len(texts)
        try:
            answers[str(text_index)] = post(port, texts[text_index])["summary"]
            latencies[i] = time.perf_counter() - due
        except Exception as exc:  # timeouts and errors count as GIVE_UP_S
            errors.append(f"{type(exc).__name__}: {exc}")
            latencies[i] = GIVE_UP_S

    start = time.perf_counter() + 0.2
    with ThreadPoolExecutor(max_workers=256) as pool:
        for i, offset in enumerate(schedule):
            due = start + offset
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, due)
    ms = sorted(min(v, GIVE_UP_S) * 1000 for v in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, max(0, math.ceil(p / 100 * len(ms)) - 1))]

    return {
        "rate": rate,
        "requests": len(ms),
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": ms[-1],
        "errors": len(errors),
        "error_sample": errors[:3],
        "load_before": load_before,
        "load_after": loadavg(),
        "answers": answers,
    }


def serve(setting: str, port: int, model: tuple[Path, Path, str]) -> subprocess.Popen:
    pipeline = ""
    if "+pipeline" in setting:  # e.g. torch-bf16-t1+pipeline5 or +pipeline5direct
        setting, pipeline = setting.split("+pipeline")
    env = {
        **os.environ,
        "BENCH_PIPELINE_RATE": pipeline.removesuffix("direct"),
        "BENCH_PIPELINE_DIRECT": "1" if pipeline.endswith("direct") else "",
        "BENCH_SETTING": setting,
        "BENCH_CKPT": str(model[0]),
        "BENCH_CONFIG": str(model[1]),
        "BENCH_SHA": model[2],
        "PYTHONPATH": f"{ROOT}:{BENCH}",
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "-w",
        "1",
        "-k",
        "gthread",
        "--threads",
        "32",
        "-b",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        "--log-level",
        "warning",
        "perspective_latency:make_app()",
    ]
    server = subprocess.Popen(command, env=env, cwd=BENCH)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ready")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"server for {setting} exited with {server.returncode}")
        time.sleep(0.5)
    server.kill()
    raise RuntimeError(f"server for {setting} did not start")


def drain(port: int, texts: list[str]) -> None:
    """Wait until the server has worked off the requests of an overloaded rate (it goes on with
    those the client gave up on): until a one-sentence request is answered within 0.5 s."""
    short = min(texts, key=len)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            post(port, short)
        except (OSError, RuntimeError):
            continue
        if time.perf_counter() - started < 0.5:
            return
    log("the server did not drain within 120 s")


def worker_rss_mb(master: int) -> float:
    """Resident memory of gunicorn's (one) worker once the model is loaded."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        status = Path(f"/proc/{children[0]}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024
    except (OSError, IndexError, StopIteration):
        return math.nan


def rates_to_try(results: dict[float, dict]) -> float | None:
    """The next rate: the base rates, then up (x1.5) or down (/2, down to 1/s) until the highest
    rate with p99 under the target is bracketed, with one rate between a pass and a fail."""
    for rate in BASE_RATES:
        if rate not in results:
            if any(m["p99"] >= GIVE_UP_S * 1000 for r, m in results.items() if r < rate):
                continue  # saturated at a lower rate already: a higher one would only pile up a queue
            return rate
    ok = sorted(r for r, m in results.items() if m["p99"] < TARGET_MS)
    bad = sorted(r for r, m in results.items() if m["p99"] >= TARGET_MS)
    if not ok:
        low = min(results) / 2
        return low if low >= 1 else None
    if not bad:
        return round(max(ok) * 1.5) if max(ok) < 80 else None
    above = [r for r in bad if r > ok[-1]]
    if above:
        middle = round((ok[-1] + above[0]) / 2)
        if middle not in results and ok[-1] < middle < above[0] and above[0] - ok[-1] > 0.2 * ok[-1]:
            return float(middle)
    return None


def main() -> None:
    if sys.argv[1:2] == ["report"]:  # print the table of a results file again
        print(report(json.loads(Path(sys.argv[2]).read_text())))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--settings",
        default="torch-fp32-t1,naive,torch-bf16-t1,openvino-fp32-t1,openvino-bf16-t1,torch-fp32-t2,torch-bf16-t2",
        help="comma-separated: naive, or <torch|openvino>-<fp32|bf16>-t<threads>, optionally +pipeline<N>: the"
        " comment pipeline scores N comments/s in the same process through the shared scorer"
        " (+pipeline<N>direct: straight on the model, as without the shared scorer)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="per rate")
    parser.add_argument("--rates", help="comma-separated rates instead of the search (e.g. 5,10,20)")
    parser.add_argument("--comments", type=int, default=200)
    parser.add_argument("--workdir", default=str(BENCH / ".work" / "perspective"))
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()

    from classifier_throughput import build_bert_base, machine, make_comments

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "model.json"
    if marker.exists():
        ckpt_s, cfg_s, sha = json.loads(marker.read_text())
        model = (Path(ckpt_s), Path(cfg_s), sha)
    else:
        log("building the bert-base-shaped model ...")
        ckpt, cfg, sha = build_bert_base(work)
        model = (ckpt, cfg, sha)
        marker.write_text(json.dumps([str(ckpt), str(cfg), sha]))
    texts = make_comments(args.comments, seed=7)
    info = machine()
    log(f"machine: {info}; load {loadavg()}")
    results: dict[str, dict] = {"machine": info, "settings": {}, "seconds": args.seconds, "comments": len(texts)}
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = BENCH / ".work" / "results" / f"perspective_latency-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for n, setting in enumerate(args.settings.split(",")):
        port = args.port + n
        started = time.perf_counter()
        server = serve(setting, port, model)
        ready_seconds = time.perf_counter() - started
        rss = worker_rss_mb(server.pid)
        log(f"{setting}: ready in {ready_seconds:.1f}s, worker RSS {rss:.0f} MB")
        try:
            for text in texts[:8]:  # warm-up
                try:
                    post(port, text)
                except (OSError, RuntimeError) as exc:  # a setting that cannot keep up: measured anyway
                    log(f"{setting}: warm-up request failed: {exc}")
            measured: dict[float, dict] = {}
            fixed = [float(r) for r in args.rates.split(",")] if args.rates else None
            while True:
                rate = (fixed.pop(0) if fixed else None) if fixed is not None else rates_to_try(measured)
                if rate is None:
                    break
                m = open_loop(port, texts, rate, args.seconds, seed=int(rate * 10))
                measured[rate] = m
                log(
                    f"{setting} @ {rate:g}/s: p50 {m['p50']:.0f} p95 {m['p95']:.0f} p99 {m['p99']:.0f} ms, "
                    f"errors {m['errors']}, load {m['load_before']:.1f}->{m['load_after']:.1f}"
                )
                drain(port, texts)
        finally:
            server.terminate()
            server.wait(30)
        results["settings"][setting] = {str(r): m for r, m in sorted(measured.items())}
        results.setdefault("servers", {})[setting] = {"ready_seconds": ready_seconds, "rss_mb": rss}
        out.write_text(json.dumps(results, indent=1))  # after each setting: a stopped run keeps what it measured
    print(report(results))
    log(f"wrote {out}")


def report(results: dict) -> str:
    settings = results["settings"]
    reference = settings.get("torch-fp32-t1") or settings.get("torch-fp32-t2")
    ref_answers: dict[str, dict] = {}
    for m in (reference or {}).values():
        ref_answers.update(m["answers"])
    lines = [
        "| setting | p50 / p95 / p99 ms at 5/s | at 10/s | at 20/s | highest rate with p99 < 800 ms | max diff vs fp32 "
        "| 1-min load |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for setting, by_rate in settings.items():
        cells = []
        for rate in BASE_RATES:
            m = by_rate.get(str(rate))
            cells.append(
                f"{m['p50']:.0f} / {m['p95']:.0f} / {m['p99']:.0f}"
                + (f" ({m['errors']} failed)" if m["errors"] else "")
                if m
                else "(saturated below)"
            )
        ok = [float(r) for r, m in by_rate.items() if m["p99"] < TARGET_MS]
        bad = [float(r) for r, m in by_rate.items() if m["p99"] >= TARGET_MS and (not ok or float(r) > max(ok))]
        best = f"{max(ok):g}/s" + (f" (not {min(bad):g})" if bad else "") if ok else f"< {min(bad):g}/s"
        diffs = [
            abs(answers[k] - ref_answers[i][k])
            for m in by_rate.values()
            for i, answers in m["answers"].items()
            if i in ref_answers
            for k in answers
            if k in ref_answers[i]
        ]
        diff = f"{max(diffs):.3g}" if diffs and reference is not None else "—"
        loads = [m[key] for m in by_rate.values() for key in ("load_before", "load_after")]
        load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "—"
        lines.append(f"| `{setting}` | " + " | ".join(cells) + f" | {best} | {diff} | {load} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

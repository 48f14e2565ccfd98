#!/usr/bin/env python3
"""Thread reads and posting: our service vs Isso, same data, same run, both gunicorn -w 2.

Run from anywhere (needs wrk: ``apt-get install -y wrk``):

    .venv/bin/python bench/run_read_post.py            # SQLite for both (4-9 minutes)
    .venv/bin/python bench/run_read_post.py --postgres # plus ours on PostgreSQL
    .venv/bin/python bench/run_read_post.py --only posts   # or --only reads

What it does (see bench/README.md, "Thread reads and posting vs Isso"):

1. makes a virtualenv for Isso under bench/.work/isso-venv (pinned isso, and the same gunicorn
   version as ours) unless it is there already;
2. starts Isso (``gunicorn -w 2 isso.run:application``, guard and moderation off, SQLite) and our
   service (``gunicorn -w 2 wsgi:app``, SQLite, rate limits off, and no classifier:
   COMMENTS_SCORING_MODE=off, as Isso has none) on loopback ports;
3. seeds both, through their own HTTP APIs, with the same 1,000-comment thread: 200 roots with 4
   direct replies each (Isso keeps one level of nesting only, so this is the shape both can
   store), Markdown bodies of 50-800 characters (bench/seed_data.py);
4. measures with wrk (1 thread, a few connections, 15 s each): full-thread reads (ours, ours with
   its page cache off, and Isso, alternating, ``--rounds`` times), our conditional read
   (If-None-Match: 304), then posting new root comments with distinct bodies and names to another
   thread (ours and Isso, alternating, ``--rounds`` times);
5. stops every server it started (always), prints the table and writes the raw results as JSON
   under bench/.work/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import string
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import processes  # noqa: E402
import seed_data  # noqa: E402

REPO = BENCH.parent
WORK = BENCH / ".work"
RUN = WORK / "run"
RESULTS = WORK / "results"
ISSO_VENV = WORK / "isso-venv"
OUR_VENV = REPO / ".venv"  # made by ./manage setup
WRK_SCRIPT = BENCH / "wrk_bench.lua"

ISSO_VERSION = "0.14.0"
SITE = "bench"
READ_THREAD = "article-1"
POST_THREAD = "article-2"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Every request loop is bounded: by count here, and by time (wrk -d, HTTP timeouts, deadlines).
MAX_WRK_REQUESTS = 200_000  # per wrk thread and measurement
HTTP_TIMEOUT = 30.0
WARMUP_REQUESTS = 20


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, env=env, cwd=cwd, timeout=timeout, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- HTTP -------------------------------------------------------------------------------------


def http_call(
    port: int, method: str, path: str, payload: object | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        body = None if payload is None else json.dumps(payload).encode()
        hdrs = dict(headers or {})
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


# --- servers ----------------------------------------------------------------------------------


class Server:
    """A gunicorn we started, in its own session so that stopping it reaches its workers."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, port: int, ready_path: str):
        self.name, self.cmd, self.env, self.cwd, self.port = name, cmd, env, cwd, port
        self.ready_path = ready_path
        # Ours with scoring on (--with-classifier), on SQLite: where to count comments still waiting.
        self.scoring_db: Path | None = None
        self.log_path = RUN / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        log(f"starting {self.name}: {' '.join(self.cmd)}")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.cmd, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                status, _, _ = http_call(self.port, "GET", self.ready_path)
                if status == 200 and len(self.worker_pids()) >= 2:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid:
                pids.append(int(entry))
        return pids

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the master and its workers so far."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in [self.proc.pid, *self.worker_pids()] if self.proc else []:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        log(f"stopping {self.name} (pid {self.proc.pid})")
        processes.stop_group(self.proc)


# Isso has no classifier: by default ours runs without one too (COMMENTS_SCORING_MODE=off), so that
# a post is stored and published at once in both (with scoring on, it waits as "pending").
SCORING_MODE = "off"
# --with-classifier (posting only): scoring on in each web process, with the model given by the
# caller's COMMENTS_CLASSIFIER_* variables; a post then answers 202 (pending) and is scored behind.
OUR_POST_STATUS = 201


def our_env(database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COMMENTS_")
        or (SCORING_MODE != "off" and k.startswith(("COMMENTS_CLASSIFIER_", "COMMENTS_SCORING_")))
    }
    env.update(
        {
            "COMMENTS_DATABASE_URL": database_url,
            "COMMENTS_SECRET_KEY": "bench",
            "COMMENTS_RATELIMIT_ENABLED": "false",
            "COMMENTS_SCORING_MODE": SCORING_MODE,
            "PATH": f"{OUR_VENV / 'bin'}:{env.get('PATH', '')}",
        }
    )
    return env


def prepare_ours(database_url: str, postgres: bool) -> list[list[str]]:
    """Create the schema and the site; returns the commands run (for the report)."""
    env = our_env(database_url)
    flask = str(OUR_VENV / "bin" / "flask")
    commands = []
    if postgres:
        commands.append([flask, "--app", "wsgi", "db", "downgrade", "base"])
    commands.append([flask, "--app", "wsgi", "db", "upgrade"])
    commands.append([flask, "--app", "wsgi", "comments", "create-site", SITE, "--origin", "http://127.0.0.1:9"])
    for cmd in commands:
        log(f"ours: {' '.join(cmd[1:])}")
        run(cmd, env=env, cwd=REPO, timeout=180)
    return commands


def postgres_in_use() -> str | None:
    """Why the PostgreSQL database should not be dropped now (CI or tests use it), or None."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'test' AND pid <> pg_backend_pid()"
    result = run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc", query], check=False, timeout=30
    )
    if result.returncode != 0:
        return f"psql failed: {result.stderr.strip()}"
    if int(result.stdout.strip() or 0) > 0:
        return f"{result.stdout.strip()} other connection(s) to the database 'test' (tests or CI running?)"
    return None


def ours_server(database_url: str, name: str, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    cmd = [str(OUR_VENV / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    return Server(name, cmd, {**our_env(database_url), **(extra_env or {})}, REPO, port, "/healthz")


def ensure_isso_venv() -> dict[str, str]:
    """The Isso virtualenv, made with the same base Python as ours; returns versions."""
    gunicorn_version = run(
        [str(OUR_VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('gunicorn'))"]
    ).stdout.strip()
    py = ISSO_VENV / "bin" / "python"

    def installed() -> dict[str, str]:
        out = run(
            [
                str(py),
                "-c",
                "import importlib.metadata as m, json;"
                "print(json.dumps({p: m.version(p) for p in ('isso', 'gunicorn')}))",
            ],
            check=False,
        )
        return json.loads(out.stdout) if out.returncode == 0 else {}

    want = {"isso": ISSO_VERSION, "gunicorn": gunicorn_version}
    if py.exists() and installed() == want:
        return want
    base = run([str(OUR_VENV / "bin" / "python"), "-c", "import sys; print(sys._base_executable)"]).stdout.strip()
    log(f"creating {ISSO_VENV} with {base}, installing isso=={ISSO_VERSION} gunicorn=={gunicorn_version}")
    if ISSO_VENV.exists():
        shutil.rmtree(ISSO_VENV)
    run([base, "-m", "venv", str(ISSO_VENV)], timeout=120)
    run(
        [
            str(ISSO_VENV / "bin" / "pip"),
            "install",
            "--disable-pip-version-check",
            "-q",
            f"isso=={ISSO_VERSION}",
            f"gunicorn=={gunicorn_version}",
        ],
        timeout=600,
    )
    got = installed()
    if got != want:
        raise RuntimeError(f"Isso venv has {got}, wanted {want}")
    return got


def isso_server() -> Server:
    port = free_port()
    cfg = RUN / "isso.cfg"
    template = string.Template((BENCH / "isso.cfg.template").read_text())
    cfg.write_text(template.substitute(dbpath=RUN / "isso.db", host="http://127.0.0.1:9/", port=port))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COMMENTS_") or (SCORING_MODE != "off" and k.startswith("COMMENTS_CLASSIFIER_"))
    }
    env["ISSO_SETTINGS"] = str(cfg)
    cmd = [str(ISSO_VENV / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "isso.run:application"]
    return Server("isso", cmd, env, RUN, port, "/info")


# --- seeding ----------------------------------------------------------------------------------


def thread_path_ours(key: str, query: str = "") -> str:
    return f"/api/v1/sites/{SITE}/threads/{urllib.parse.quote(key, safe='')}/comments" + query


def seed_ours(server: Server, items: list[dict]) -> float:
    ids: list[int] = []
    started = time.monotonic()
    for item in items:  # bounded: len(items)
        payload = {"body": item["body"], "author_name": item["author"]}
        if item["parent"] is not None:
            payload["parent_id"] = ids[item["parent"]]
        status, _, data = http_call(server.port, "POST", thread_path_ours(READ_THREAD), payload)
        if status != 201:
            raise RuntimeError(f"ours: seeding answered {status}: {data[:500]!r}")
        ids.append(json.loads(data)["comment"]["id"])
    return time.monotonic() - started


def seed_isso(server: Server, items: list[dict]) -> float:
    ids: list[int] = []
    started = time.monotonic()
    for item in items:
        payload = {"text": item["body"], "author": item["author"], "title": "Article 1"}
        if item["parent"] is not None:
            payload["parent"] = ids[item["parent"]]
        status, _, data = http_call(server.port, "POST", "/new?uri=" + urllib.parse.quote("/" + READ_THREAD), payload)
        if status != 201:
            raise RuntimeError(f"isso: seeding answered {status}: {data[:500]!r}")
        ids.append(json.loads(data)["id"])
    return time.monotonic() - started


def open_post_threads(ours: Server, isso: Server | None) -> None:
    """One comment in the posting thread of each server first, so that the measured posts do not
    include creating the thread (with two workers, Isso can fail that race with a 500)."""
    status, _, data = http_call(
        ours.port, "POST", thread_path_ours(POST_THREAD), {"body": "First!", "author_name": "Opener"}
    )
    if status != OUR_POST_STATUS:
        raise RuntimeError(f"ours: opening the posting thread answered {status}: {data[:300]!r}")
    if SCORING_MODE != "off":
        wait_classifier_loaded(ours)
    if isso is not None:
        status, _, data = http_call(
            isso.port,
            "POST",
            "/new?uri=" + urllib.parse.quote("/" + POST_THREAD),
            {"text": "First!", "author": "Opener", "title": "Article 2"},
        )
        if status != 201:
            raise RuntimeError(f"isso: opening the posting thread answered {status}: {data[:300]!r}")


def wait_classifier_loaded(ours: Server, timeout: float = 180) -> None:
    """With scoring on, each web process loads its model in the background after its first
    request: wait until every worker answers /readyz with the classifier loaded, so that no
    measurement includes loading torch and the model."""
    deadline, ready_in_a_row = time.monotonic() + timeout, 0
    while ready_in_a_row < 20:  # gunicorn spreads requests over the workers: 20 in a row is both
        if time.monotonic() > deadline:
            raise RuntimeError(f"ours: the classifier was not loaded in every worker after {timeout:.0f} s")
        status, _, data = http_call(ours.port, "GET", "/readyz")
        ready_in_a_row = ready_in_a_row + 1 if status == 200 else 0
        time.sleep(0.05 if status == 200 else 0.5)
    log("ours: classifier loaded in every worker")


def our_read_path() -> str:
    return thread_path_ours(READ_THREAD, "?limit=200")


def isso_read_path() -> str:
    return "/?uri=" + urllib.parse.quote("/" + READ_THREAD)


def check_ours(server: Server, expect_roots: int, expect_total: int) -> dict:
    """Our read of the seeded thread. Since reply paging a page carries each root's first
    REPLIES_SHOWN replies and a cursor for the rest (Isso's read here carries them all: compare
    the bytes per response too)."""
    from comments.services.threads import REPLIES_SHOWN

    per_root = (expect_total - expect_roots) // expect_roots
    carried = expect_roots * (1 + min(per_root, REPLIES_SHOWN))
    status, headers, data = http_call(server.port, "GET", our_read_path())
    page = json.loads(data)
    roots = page["comments"]
    total = len(roots) + sum(len(r["replies"]) for r in roots)
    cut = sum(1 for r in roots if r.get("replies_next_cursor"))
    if (
        status != 200
        or len(roots) != expect_roots
        or total != carried
        or page["next_cursor"] is not None
        or cut != (expect_roots if per_root > REPLIES_SHOWN else 0)
    ):
        raise RuntimeError(f"ours: read gave {status}, {len(roots)} roots, {total} comments, {cut} cut")
    status304, _, _ = http_call(server.port, "GET", our_read_path(), headers={"If-None-Match": headers["etag"]})
    if status304 != 304:
        raise RuntimeError(f"ours: If-None-Match answered {status304}, not 304")
    return {"status": status, "roots": len(roots), "comments": total, "bytes": len(data), "etag": headers["etag"]}


def check_isso(server: Server, expect_roots: int, expect_total: int) -> dict:
    status, _, data = http_call(server.port, "GET", isso_read_path())
    page = json.loads(data)
    roots = page["replies"]
    total = len(roots) + sum(len(r["replies"]) for r in roots)
    if status != 200 or len(roots) != expect_roots or total != expect_total or page["total_replies"] != expect_total:
        raise RuntimeError(f"isso: read gave {status}, {len(roots)} roots, {total} comments")
    return {"status": status, "roots": len(roots), "comments": total, "bytes": len(data)}


def warm_up(server: Server, path: str, count: int = WARMUP_REQUESTS) -> None:
    for _ in range(count):
        http_call(server.port, "GET", path)


# --- measuring --------------------------------------------------------------------------------


def system_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_quiet(args: argparse.Namespace, servers: list[Server], what: str) -> float:
    """Wait (at most --quiet-wait seconds) until other processes use < --quiet-cores CPUs.

    The machine may be shared; a busy neighbour would make whichever server is measured
    then look slower. Returns the background load seen last (cores)."""
    start = time.monotonic()
    deadline = start + max(0.0, min(args.quiet_wait, args.quiet_budget - args.quiet_spent))
    while True:
        ours_before = sum(s.cpu_seconds() for s in servers)
        busy_before = system_busy_seconds()
        time.sleep(2.0)
        other = (system_busy_seconds() - busy_before) - (sum(s.cpu_seconds() for s in servers) - ours_before)
        other /= 2.0
        if other < args.quiet_cores:
            args.quiet_spent += time.monotonic() - start
            return other
        if time.monotonic() >= deadline:
            args.quiet_spent += time.monotonic() - start
            log(f"WARNING: other processes still use {other:.2f} CPUs; measuring {what} anyway")
            return other
        log(f"waiting for the machine to be quiet before {what}: other processes use {other:.2f} CPUs")


def post_templates(kind: str, run_tag: str, count: int = 300) -> Path:
    """One JSON request body per line, with @@N@@ where wrk puts a unique number."""
    items = seed_data.thread(seed=2, roots=count, replies_per_root=0)
    path = RUN / f"post-{kind}.jsonl"
    with open(path, "w") as out:
        for item in items:
            text = f"{item['body']}\n\nComment @@N@@ of run {run_tag}."
            name = f"{item['author'].rsplit(' ', 1)[0]} @@N@@"
            if kind == "ours":
                doc = {"body": text, "author_name": name}
            else:
                doc = {"text": text, "author": name, "title": "Article 2"}
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return path


def wrk(
    server: Server,
    path: str,
    args: argparse.Namespace,
    *,
    expect: int,
    headers: dict[str, str] | None = None,
    templates: Path | None = None,
    tag: str = "",
) -> dict:
    """One measurement; repeated (at most --retries times) when other processes took CPU during
    it, keeping the attempt they disturbed least."""
    attempts = []
    for attempt in range(1 + args.retries):
        r = wrk_once(
            server, path, args, expect=expect, headers=headers, templates=templates, prefix=f"{tag}a{attempt}-"
        )
        attempts.append(r)
        if r["other_cpu_cores"] <= args.quiet_cores:
            break
        if attempt < args.retries:
            log(f"  disturbed ({r['other_cpu_cores']:.2f} other CPUs): measuring {server.name} again")
    best = min(attempts, key=lambda a: a["other_cpu_cores"])
    best["attempts"] = len(attempts)
    best["discarded_attempts"] = [
        {k: a[k] for k in ("ok_per_second", "other_cpu_cores", "latency_ms")} for a in attempts if a is not best
    ]
    return best


def wrk_once(
    server: Server,
    path: str,
    args: argparse.Namespace,
    *,
    expect: int,
    headers: dict[str, str] | None,
    templates: Path | None,
    prefix: str,
) -> dict:
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "30s", "-s", str(WRK_SCRIPT)]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    cmd += [f"http://127.0.0.1:{server.port}{path}", "--", str(MAX_WRK_REQUESTS)]
    if templates is not None:
        cmd += [str(templates), prefix]
    background_before = wait_quiet(args, args.servers, server.name)
    cpu_before = server.cpu_seconds()
    busy_before = system_busy_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = run(cmd, timeout=args.duration + 60)
    wall = time.monotonic() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_after = system_busy_seconds()
    cpu_after = server.cpu_seconds()
    backlog = scoring_backlog(server) if server.scoring_db is not None else None
    wrk_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"no WRK_JSON line from wrk:\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line[len("WRK_JSON ") :])
    seconds = raw["duration_us"] / 1e6
    statuses = {int(k): v for k, v in raw["statuses"].items()}
    ok = statuses.get(expect, 0)
    lat = raw["latency_us"]
    in_service_max = min(args.connections, 2)  # 2 gunicorn workers
    other_cpu = ((busy_after - busy_before) - (cpu_after - cpu_before) - wrk_cpu) / wall
    if other_cpu > args.quiet_cores:
        log(f"WARNING: other processes used {other_cpu:.2f} CPUs during this measurement")
    return {
        "command": " ".join(cmd),
        "expect_status": expect,
        "requests": raw["requests"],
        "ok": ok,
        "unexpected": raw["requests"] - ok,
        "statuses": statuses,
        "errors": raw["errors"],
        "seconds": seconds,
        "ok_per_second": ok / seconds,
        # Requests still in service when wrk stopped are not counted; at most one per worker.
        # Counting them as done gives an upper bound, which matters only for very slow reads.
        "ok_per_second_upper": (ok + in_service_max) / seconds,
        "first_to_last_response_s": raw["last_response_s"] - raw["first_response_s"],
        "requests_per_second": raw["requests"] / seconds,
        "bytes_per_response": raw["bytes"] / raw["requests"] if raw["requests"] else 0,
        "latency_ms": {k: lat[k] / 1000 for k in ("min", "mean", "max", "stdev", "p50", "p90", "p95", "p99")},
        "server_cpu_cores": (cpu_after - cpu_before) / wall,
        "server_cpu_seconds": cpu_after - cpu_before,
        # What one answer costs the server in CPU: hardly changed by other processes on the
        # machine, unlike req/s (but blind to time spent waiting on the disk).
        "server_cpu_ms_per_ok": (cpu_after - cpu_before) * 1000 / ok if ok else None,
        "wrk_cpu_cores": wrk_cpu / wall,
        # With the classifier on: how many of this run's comments were still waiting for their
        # scores when wrk stopped, how long the rest took, and the CPU per post with that included.
        "scoring_backlog": backlog,
        "server_cpu_ms_per_ok_with_drain": (
            (cpu_after - cpu_before + backlog["drain_cpu_seconds"]) * 1000 / ok if backlog and ok else None
        ),
        "other_cpu_cores": other_cpu,
        "other_cpu_cores_before": background_before,
        "wrk_output": result.stdout,
    }


def scoring_backlog(server: Server, timeout: float = 120) -> dict:
    """Comments still ``pending`` right after a posting run, and the time and server CPU it took
    the in-process scorers to decide them all."""
    import sqlite3

    def waiting() -> int:
        with sqlite3.connect(f"file:{server.scoring_db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM comments WHERE status = 'pending'").fetchone()[0]

    cpu_before, started = server.cpu_seconds(), time.monotonic()
    at_end = waiting()
    left = at_end
    while left and time.monotonic() - started < timeout:
        time.sleep(0.1)
        left = waiting()
    drain = time.monotonic() - started
    if at_end:
        log(f"  scoring: {at_end} comments waiting when wrk stopped, {left} after {drain:.1f} s")
    return {
        "waiting_at_end": at_end,
        "waiting_after_drain": left,
        "drain_seconds": drain if at_end else 0.0,
        "drain_cpu_seconds": server.cpu_seconds() - cpu_before,
    }


def summarise(rounds: list[dict]) -> dict:
    """Several rounds of one measurement: req/s summed over rounds, latency means of rounds."""
    ok = sum(r["ok"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    in_service_max = sum(r["ok_per_second_upper"] * r["seconds"] - r["ok"] for r in rounds)
    return {
        "rounds": len(rounds),
        "ok": ok,
        "unexpected": sum(r["unexpected"] for r in rounds),
        "ok_per_second": ok / seconds,
        "ok_per_second_upper": (ok + in_service_max) / seconds,
        "per_round_ok_per_second": [r["ok_per_second"] for r in rounds],
        "p50_ms": statistics.mean(r["latency_ms"]["p50"] for r in rounds),
        "p95_ms": statistics.mean(r["latency_ms"]["p95"] for r in rounds),
        "p99_ms": statistics.mean(r["latency_ms"]["p99"] for r in rounds),
        "bytes_per_response": statistics.mean(r["bytes_per_response"] for r in rounds),
        "server_cpu_cores": statistics.mean(r["server_cpu_cores"] for r in rounds),
        "server_cpu_ms_per_ok": (sum(r["server_cpu_seconds"] for r in rounds) * 1000 / ok) if ok else None,
        "wrk_cpu_cores": statistics.mean(r["wrk_cpu_cores"] for r in rounds),
        "other_cpu_cores": max(r["other_cpu_cores"] for r in rounds),
        "attempts": sum(r["attempts"] for r in rounds),
        **(
            {
                "scoring_waiting_at_end": [r["scoring_backlog"]["waiting_at_end"] for r in rounds],
                "scoring_drain_seconds": [r["scoring_backlog"]["drain_seconds"] for r in rounds],
                "scoring_waiting_after_drain": sum(r["scoring_backlog"]["waiting_after_drain"] for r in rounds),
                "server_cpu_ms_per_ok_with_drain": (
                    sum(r["server_cpu_seconds"] + r["scoring_backlog"]["drain_cpu_seconds"] for r in rounds) * 1000 / ok
                    if ok
                    else None
                ),
            }
            if all(r.get("scoring_backlog") for r in rounds)
            else {}
        ),
    }


def measure_alternating(entries: list[tuple[str, Server, str, dict]], args: argparse.Namespace, results: dict) -> None:
    """Measure each entry (label, server, path, wrk options) in turn, ``args.rounds`` times over,
    so that a slow drift of the machine touches every server alike."""
    per: dict[str, list[dict]] = {label: [] for label, _, _, _ in entries}
    for round_no in range(1, args.rounds + 1):
        for label, server, path, options in entries:
            log(f"round {round_no}/{args.rounds}: {label}")
            r = wrk(server, path, args, tag=f"r{round_no}", **options)
            log(
                f"  {r['ok_per_second']:.1f} ok/s, p50 {r['latency_ms']['p50']:.1f} ms, "
                f"p95 {r['latency_ms']['p95']:.1f} ms, unexpected {r['unexpected']} {r['statuses']}"
            )
            per[label].append(r)
    for label, rounds in per.items():
        results["raw"][label] = rounds
        results["summary"][label] = summarise(rounds)


def measure_one(label: str, server: Server, path: str, args: argparse.Namespace, results: dict, **kwargs) -> None:
    log(f"measuring {label}")
    r = wrk(server, path, args, **kwargs)
    log(
        f"  {r['ok_per_second']:.1f} ok/s, p50 {r['latency_ms']['p50']:.1f} ms, "
        f"p95 {r['latency_ms']['p95']:.1f} ms, unexpected {r['unexpected']} {r['statuses']}"
    )
    results["raw"][label] = [r]
    results["summary"][label] = summarise([r])


# --- report -----------------------------------------------------------------------------------


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def fsync_ms() -> dict:
    """The disk's fsync latency where both databases live (50 writes of 4 KiB, each synced)."""
    path = RUN / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    times = []
    try:
        for i in range(50):
            os.pwrite(fd, os.urandom(4096), (i % 8) * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return {"median": round(statistics.median(times), 3), "p90": round(times[44], 3)}


def versions(isso_versions: dict[str, str]) -> dict:
    ours = json.loads(
        run(
            [
                str(OUR_VENV / "bin" / "python"),
                "-c",
                "import importlib.metadata as m, json, sys; print(json.dumps({"
                "'python': sys.version.split()[0], 'gunicorn': m.version('gunicorn'),"
                "'flask': m.version('flask'), 'sqlalchemy': m.version('sqlalchemy')}))",
            ]
        ).stdout
    )
    isso_py = run([str(ISSO_VENV / "bin" / "python"), "-c", "import sys; print(sys.version.split()[0])"]).stdout.strip()
    wrk_version = run(["wrk", "--version"], check=False).stdout.splitlines()[0].strip()
    git = run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=False).stdout.strip()
    dirty = run(
        ["git", "status", "--porcelain", "--", "comments", "migrations", "wsgi.py"], cwd=REPO, check=False
    ).stdout.splitlines()
    # The code measured, exactly (the app may be edited between runs): a hash of its files.
    digest = hashlib.sha256()
    for path in sorted([*(REPO / "comments").rglob("*.py"), *(REPO / "migrations").rglob("*.py"), REPO / "wsgi.py"]):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return {
        "ours": ours,
        "isso": {**isso_versions, "python": isso_py},
        "wrk": wrk_version,
        "git_head": git,
        "app_files_changed_since_head": dirty,
        "app_code_sha256": digest.hexdigest()[:16],
    }


ROWS = [
    ("ours_read", "ours: full-thread read (1,000 comments)"),
    ("ours_read_nocache", "ours, page cache off: full-thread read"),
    ("isso_read", "Isso: full-thread read (1,000 comments)"),
    ("ours_read_304", "ours: same read, If-None-Match -> 304"),
    ("ours_post", "ours: post a root comment"),
    ("isso_post", "Isso: post a root comment"),
    ("ours_pg_read", "ours (PostgreSQL): full-thread read"),
    ("ours_pg_read_304", "ours (PostgreSQL): If-None-Match -> 304"),
    ("ours_pg_post", "ours (PostgreSQL): post a root comment"),
]


def table(results: dict) -> str:
    s = results["summary"]
    lines = [
        "| measurement | ok req/s | p50 ms | p95 ms | p99 ms | other statuses | bytes/resp "
        "| server CPUs | server CPU ms/req | wrk CPUs | other CPUs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in ROWS:
        if key not in s:
            continue
        m = s[key]
        rounds = "" if m["rounds"] == 1 else " (" + ", ".join(f"{x:.1f}" for x in m["per_round_ok_per_second"]) + ")"
        lines.append(
            f"| {label} | {m['ok_per_second']:.1f}{rounds} | {m['p50_ms']:.1f} | {m['p95_ms']:.1f} | "
            f"{m['p99_ms']:.1f} | {m['unexpected']} | {m['bytes_per_response']:,.0f} | "
            f"{m['server_cpu_cores']:.2f} | {m['server_cpu_ms_per_ok'] or 0:.1f} | "
            f"{m['wrk_cpu_cores']:.2f} | {m['other_cpu_cores']:.2f} |"
        )
    lines.append("")
    for key, label in ROWS:
        m = s.get(key, {})
        if "scoring_waiting_at_end" in m:
            posted = [r["ok"] for r in results["raw"][key]]
            lines.append(
                f"- {label}, scoring: waiting for the classifier when wrk stopped "
                + ", ".join(f"{w} of {p}" for w, p in zip(m["scoring_waiting_at_end"], posted))
                + " (per round); all decided "
                + ", ".join(f"{d:.1f} s" for d in m["scoring_drain_seconds"])
                + " later"
                + (f", {m['scoring_waiting_after_drain']} STILL WAITING" if m["scoring_waiting_after_drain"] else "")
                + f"; server CPU per post with that scoring included {m['server_cpu_ms_per_ok_with_drain']:.1f} ms"
            )
    for name, value in results["ratios"].items():
        cost = (
            ""
            if value["cpu_cost_ratio"] is None
            else (f"; server CPU per answer, Isso/ours: {value['cpu_cost_ratio']:.2f}x")
        )
        lines.append(
            f"- {name}: {value['ratio']:.2f}x; against Isso's upper bound "
            f"{value['ratio_conservative']:.2f}x (target >= {value['target']}x: "
            f"{'met' if value['met'] else 'MISSED'}){cost}"
        )
    return "\n".join(lines)


def ratios(results: dict) -> dict:
    s = results["summary"]
    out = {}
    pairs = [
        ("reads ours/Isso", "ours_read", "isso_read", 25),
        ("reads ours (page cache off)/Isso", "ours_read_nocache", "isso_read", 25),
        ("posts ours/Isso", "ours_post", "isso_post", 1),
        ("reads ours(PostgreSQL)/Isso", "ours_pg_read", "isso_read", 25),
        ("posts ours(PostgreSQL)/Isso", "ours_pg_post", "isso_post", 1),
    ]
    for name, a, b, target in pairs:
        if a in s and b in s and s[b]["ok_per_second"] > 0:
            ratio = s[a]["ok_per_second"] / s[b]["ok_per_second"]
            # Judged conservatively: ours as counted, Isso's in-flight requests counted as done.
            conservative = s[a]["ok_per_second"] / s[b]["ok_per_second_upper"]
            cost_a, cost_b = s[a]["server_cpu_ms_per_ok"], s[b]["server_cpu_ms_per_ok"]
            out[name] = {
                "ratio": ratio,
                "ratio_conservative": conservative,
                "target": target,
                "met": conservative >= target,
                "cpu_cost_ratio": cost_b / cost_a if cost_a and cost_b else None,
            }
    return out


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk measurement (default 15)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of alternating measurements, for reads and for posts (default 2)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=int,
        default=60,
        help="seconds to wait at most, before each measurement, for other processes "
        "to go below --quiet-cores CPUs (default 60; 120 in all per run)",
    )
    parser.add_argument(
        "--quiet-cores", type=float, default=0.15, help="background CPU load regarded as quiet (default 0.15)"
    )
    parser.add_argument(
        "--only",
        choices=("all", "reads", "posts"),
        default="all",
        help="measure only the reads (and 304s) or only the posts (default all)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="repeat a measurement disturbed by other processes at most this often (default 1)",
    )
    parser.add_argument(
        "--with-classifier",
        action="store_true",
        help="posting only: ours scores every post in-process with the model named by "
        "COMMENTS_CLASSIFIER_CHECKPOINT/_SHA256/_CONFIG_DIR (implies --only posts)",
    )
    parser.add_argument(
        "--postgres", action="store_true", help=f"also measure ours on {PG_URL} (DROPS its tables: db downgrade base)"
    )
    args = parser.parse_args()
    if args.with_classifier:
        global SCORING_MODE, OUR_POST_STATUS
        if not os.environ.get("COMMENTS_CLASSIFIER_CHECKPOINT"):
            parser.error("--with-classifier needs COMMENTS_CLASSIFIER_CHECKPOINT (and _SHA256, _CONFIG_DIR)")
        SCORING_MODE, OUR_POST_STATUS = "inprocess", 202
        os.environ["HF_HUB_OFFLINE"] = "1"
        args.only = "posts"
    if not (
        1 <= args.duration <= 60
        and 1 <= args.connections <= 64
        and 1 <= args.rounds <= 5
        and 0 <= args.quiet_wait <= 600
        and 0 <= args.retries <= 3
    ):
        parser.error("keep --duration 1-60, --connections 1-64, --rounds 1-5, --quiet-wait 0-600, --retries 0-3")
    if shutil.which("wrk") is None:
        parser.error("wrk not found: apt-get install -y wrk")

    started_at = datetime.now(UTC)
    run_tag = started_at.strftime("%Y%m%dT%H%M%SZ")
    if RUN.exists():
        shutil.rmtree(RUN)
    RUN.mkdir(parents=True)
    RESULTS.mkdir(parents=True, exist_ok=True)

    isso_versions = ensure_isso_venv()
    items = seed_data.thread(seed=1, roots=200, replies_per_root=4)
    results: dict = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": " ".join([sys.executable, *sys.argv]),
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "wrk_threads": 1,
            "rounds": args.rounds,
            "only": args.only,
            "gunicorn_workers": 2,
            "thread": "200 roots x 4 direct replies",
            "bodies": {
                "count": len(items),
                "min_chars": min(len(i["body"]) for i in items),
                "max_chars": max(len(i["body"]) for i in items),
                "total_chars": sum(len(i["body"]) for i in items),
            },
        },
        "machine": {**machine(), "fsync_ms": fsync_ms()},
        "versions": versions(isso_versions),
        "setup": {"ours_env": {k: v for k, v in our_env("(see below)").items() if k.startswith("COMMENTS_")}},
        "raw": {},
        "summary": {},
    }

    servers: list[Server] = []
    args.servers = servers  # wait_quiet discounts their CPU
    args.quiet_budget, args.quiet_spent = 120.0, 0.0
    try:
        isso = isso_server()
        servers.append(isso)
        sqlite_url = f"sqlite:///{RUN / 'comments.db'}"
        results["setup"]["ours_commands"] = [" ".join(c[1:]) for c in prepare_ours(sqlite_url, postgres=False)]
        ours = ours_server(sqlite_url, "ours")
        if SCORING_MODE != "off":
            ours.scoring_db = RUN / "comments.db"
        servers.append(ours)
        isso.start()
        ours.start()
        results["setup"]["commands"] = {"ours": " ".join(ours.cmd), "isso": " ".join(isso.cmd)}

        open_post_threads(ours, isso)
        if args.only in ("all", "reads"):
            log("seeding ours (1,000 comments through the API)")
            results["setup"]["ours_seed_seconds"] = seed_ours(ours, items)
            log("seeding Isso (1,000 comments through the API)")
            results["setup"]["isso_seed_seconds"] = seed_isso(isso, items)
            results["setup"]["ours_read_check"] = check_ours(ours, 200, 1000)
            results["setup"]["isso_read_check"] = check_isso(isso, 200, 1000)
            log(
                f"seeded: ours {results['setup']['ours_seed_seconds']:.1f} s, Isso "
                f"{results['setup']['isso_seed_seconds']:.1f} s; a full read is "
                f"{results['setup']['ours_read_check']['bytes']:,} bytes (ours), "
                f"{results['setup']['isso_read_check']['bytes']:,} bytes (Isso)"
            )
            etag = results["setup"]["ours_read_check"]["etag"]
            warm_up(ours, our_read_path())
            warm_up(isso, isso_read_path(), count=4)  # about a second each

            # The same service with its per-process page cache off (every read builds the page
            # from the database), on the same database file: a read right after the thread changed.
            ours_nocache = ours_server(sqlite_url, "ours-nocache", {"COMMENTS_READ_CACHE_MB": "0"})
            servers.append(ours_nocache)
            ours_nocache.start()
            warm_up(ours_nocache, our_read_path())
            measure_alternating(
                [
                    ("ours_read", ours, our_read_path(), {"expect": 200}),
                    ("ours_read_nocache", ours_nocache, our_read_path(), {"expect": 200}),
                    ("isso_read", isso, isso_read_path(), {"expect": 200}),
                ],
                args,
                results,
            )
            ours_nocache.stop()
            measure_one(
                "ours_read_304", ours, our_read_path(), args, results, expect=304, headers={"If-None-Match": etag}
            )
        if args.only in ("all", "posts"):
            measure_alternating(
                [
                    (
                        "ours_post",
                        ours,
                        thread_path_ours(POST_THREAD),
                        {"expect": OUR_POST_STATUS, "templates": post_templates("ours", run_tag)},
                    ),
                    (
                        "isso_post",
                        isso,
                        "/new?uri=" + urllib.parse.quote("/" + POST_THREAD),
                        {"expect": 201, "templates": post_templates("isso", run_tag)},
                    ),
                ],
                args,
                results,
            )

        busy_reason = postgres_in_use() if args.postgres else None
        if busy_reason:
            log(f"NOT measuring on PostgreSQL: {busy_reason}")
            results["setup"]["postgres_skipped"] = busy_reason
        elif args.postgres:
            ours.stop()
            results["setup"]["ours_pg_commands"] = [" ".join(c[1:]) for c in prepare_ours(PG_URL, postgres=True)]
            ours_pg = ours_server(PG_URL, "ours-pg")
            servers.append(ours_pg)
            ours_pg.start()
            open_post_threads(ours_pg, None)
            if args.only in ("all", "reads"):
                log("seeding ours on PostgreSQL")
                results["setup"]["ours_pg_seed_seconds"] = seed_ours(ours_pg, items)
                check = check_ours(ours_pg, 200, 1000)
                results["setup"]["ours_pg_read_check"] = check
                warm_up(ours_pg, our_read_path())
                measure_alternating([("ours_pg_read", ours_pg, our_read_path(), {"expect": 200})], args, results)
                measure_one(
                    "ours_pg_read_304",
                    ours_pg,
                    our_read_path(),
                    args,
                    results,
                    expect=304,
                    headers={"If-None-Match": check["etag"]},
                )
            if args.only in ("all", "posts"):
                measure_alternating(
                    [
                        (
                            "ours_pg_post",
                            ours_pg,
                            thread_path_ours(POST_THREAD),
                            {"expect": 201, "templates": post_templates("ours", run_tag + "pg")},
                        )
                    ],
                    args,
                    results,
                )
            ours_pg.stop()
            # Leave the shared database as the tests expect it: no tables.
            log("ours: --app wsgi db downgrade base (PostgreSQL, cleaning up)")
            run(
                [str(OUR_VENV / "bin" / "flask"), "--app", "wsgi", "db", "downgrade", "base"],
                env=our_env(PG_URL),
                cwd=REPO,
                timeout=180,
            )
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                log(f"could not stop {server.name}: {exc}")

    results["ratios"] = ratios(results)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out = RESULTS / f"read_post-{run_tag}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    m, v = results["machine"], results["versions"]
    print()
    print(
        f"{m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM; python {v['ours']['python']}, "
        f"gunicorn {v['ours']['gunicorn']}, isso {v['isso']['isso']}; {v['wrk']}"
    )
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s; reads and posts alternate between servers, "
        f"x{args.rounds} "
        f"(req/s over all rounds, per round in brackets; latencies: mean of the rounds' percentiles)"
    )
    print(table(results))
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

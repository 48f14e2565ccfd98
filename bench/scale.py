#!/usr/bin/env python3
"""What each request and maintenance command costs at 1,000,000 comments against 10,000.

    .venv/bin/python bench/scale_data.py --url sqlite:///bench/.work/scale/scale10k.db --comments 10000 --replace
    .venv/bin/python bench/scale_data.py --url sqlite:///bench/.work/scale/scale1m.db --comments 1000000 --replace
    createdb -U postgres -h 127.0.0.1 scale10k; createdb -U postgres -h 127.0.0.1 scale1m   # once
    .venv/bin/python bench/scale_data.py --url postgresql://postgres@127.0.0.1:5432/scale10k --comments 10000 --replace
    .venv/bin/python bench/scale_data.py --url postgresql://postgres@127.0.0.1:5432/scale1m --comments 1000000 --replace

    .venv/bin/python bench/scale.py --label after            # both backends, requests and maintenance
    .venv/bin/python bench/scale.py --only sqlite --skip-maintenance
    .venv/bin/python bench/scale.py --table bench/.work/results/scale-before-*.json bench/.work/results/scale-after-*.json

For each backend and size it starts the service as the README says (``gunicorn -w 2 wsgi:app``,
scoring off, rate limits off; the page cache off so that every read reaches the database),
serves both sizes at once and sends each request to one and then the other, ``--repeat`` times
(so that whatever else the machine does falls on both alike), keeping the median latency; then it
runs the maintenance commands on a copy of the database (the loaded one stays as it was): a
privacy erase through the host API (time per erased comment), ``flask comments purge`` at 90
days (first run) and ``flask comments rescore --site blog`` as a dry run with the project's test
model (``flask comments build-test-model``), each under a time limit. It prints the median per
request and size and the 1M/10k ratio, and writes the raw figures as JSON under bench/.work/results/.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import http.cookiejar
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
RESULTS = WORK / "results"
RUN = WORK / "scale-run"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(BENCH))
import processes  # noqa: E402
from scale_data import author_email  # noqa: E402

MODERATOR = ("mod@example.org", "bench-password-123")
SECRET_KEY = "bench"  # the loader hashed emails with the key derived from it
HTTP_TIMEOUT = 600.0
# Whose code serves and runs the commands: this checkout, or (--code) an export of another commit,
# e.g. ``git archive <commit> | tar -x -C DIR`` to measure "before" against the same databases.
CODE = REPO
SIZES = (("10k", 10_000), ("1m", 1_000_000))


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTS_")}
    env.update(
        {
            "COMMENTS_DATABASE_URL": url,
            "COMMENTS_SECRET_KEY": SECRET_KEY,
            "COMMENTS_RATELIMIT_ENABLED": "false",
            "COMMENTS_SCORING_MODE": "off",
            "COMMENTS_READ_CACHE_MB": "0",
            "COMMENTS_WEBHOOK_DELIVERY": "worker",
            "FLASK_APP": "wsgi",
            "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            "PYTHONPATH": str(CODE),
        }
    )
    env.update(extra or {})
    return env


class Server:
    """``gunicorn -w 2 wsgi:app`` in its own session, so that stopping it reaches its workers."""

    def __init__(self, url: str, name: str):
        self.port = free_port()
        self.name = name
        self.env = service_env(url)
        self.proc: subprocess.Popen | None = None
        self.log_path = RUN / f"{name}.log"

    def __enter__(self) -> Server:
        RUN.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{self.port}", "--timeout", "900", "wsgi:app"],
                env=self.env,
                cwd=CODE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            try:
                if http_call(self.port, "GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            processes.stop_group(self.proc, grace=30)


def http_call(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Client:
    """A moderator logged in to the dashboard (a cookie) and to the API (a bearer token), and a host key."""

    def __init__(self, port: int, host_key: str):
        self.port = port
        self.host_key = host_key
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        page = self.opener.open(base + "/mod/login", timeout=60).read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"email": MODERATOR[0], "password": MODERATOR[1], "csrf_token": csrf})
        self.opener.open(base + "/mod/login", data=form.encode(), timeout=60).read()
        status, data = http_call(
            port,
            "POST",
            "/api/v1/auth/token",
            json.dumps({"email": MODERATOR[0], "password": MODERATOR[1]}).encode(),
            {"Content-Type": "application/json"},
        )
        if status != 200:
            raise RuntimeError(f"token: {status} {data[:200]!r}")
        self.token = json.loads(data)["token"]

    def dashboard(self, path: str) -> tuple[int, int]:
        with self.opener.open(f"http://127.0.0.1:{self.port}{path}", timeout=HTTP_TIMEOUT) as response:
            if "/mod/login" in response.geturl():
                raise RuntimeError("the dashboard session was lost")
            return response.status, len(response.read())

    def api(self, method: str, path: str, payload: object | None = None, auth: str | None = None) -> tuple[int, int]:
        headers = {"Authorization": f"Bearer {auth or self.token}"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        status, data = http_call(self.port, method, path, body, headers)
        return status, len(data)


# --- what is measured -----------------------------------------------------------------------------


def facts(url: str) -> dict:
    """Keys and ids the requests need: the biggest thread, a mid-size one, keys for counts, a host key."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        biggest = conn.execute(
            sa.text(
                "SELECT t.key, s.slug, t.published_count FROM threads t JOIN sites s ON s.id = t.site_id "
                "ORDER BY t.published_count DESC LIMIT 1"
            )
        ).one()
        middle = conn.execute(
            sa.text(
                "SELECT t.key, t.published_count FROM threads t JOIN sites s ON s.id = t.site_id WHERE s.slug = 'news' "
                "ORDER BY abs(t.published_count - 40), t.id LIMIT 1"
            )
        ).one()
        keys = (
            conn.execute(
                sa.text(
                    "SELECT t.key FROM threads t JOIN sites s ON s.id = t.site_id WHERE s.slug = 'news' "
                    "ORDER BY t.id DESC LIMIT 20"
                )
            )
            .scalars()
            .all()
        )
        # Authors with 3-8 comments on 'news', by email: privacy erasures of about the same size at both sizes.
        erasable = conn.execute(
            sa.text(
                "SELECT c.author_name, count(*) FROM comments c JOIN sites s ON s.id = c.site_id "
                "WHERE s.slug = 'news' AND c.author_email_hash IS NOT NULL "
                "GROUP BY c.author_name HAVING count(*) BETWEEN 3 AND 8 ORDER BY c.author_name LIMIT 12"
            )
        ).all()
    engine.dispose()
    return {
        "biggest": {"key": biggest[0], "site": biggest[1], "published": biggest[2]},
        "middle": {"key": middle[0], "published": middle[1]},
        "keys": list(keys),
        "erasable": [(int(name.rsplit(" ", 1)[1]), count) for name, count in erasable],
    }


def host_key(url: str) -> str:
    """A new host-scoped API key for 'news' (the loader's first key was never shown)."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "comments", "add-key", "news", "--label", "scale bench", "--scope", "host"],
        env=service_env(url),
        cwd=CODE,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().rsplit(" ", 1)[1]


REQUESTS = (
    "dashboard stats /mod/stats",
    "dashboard queue /mod/",
    "dashboard thread view, biggest thread",
    "moderation API held queue, all sites, oldest first",
    "held queue by score, all sites",
    "held queue by score, one site",
    "biggest thread, first page, oldest",
    "biggest thread, first page, top",
    "host export changed_since one day",
    "thread read, mid-size thread",
    "counts, 20 threads",
    "posting a root comment",
    "export, first page (100)",
)
MAINTENANCE = (
    "privacy erase, per erased comment",
    "flask comments purge, first run at 90 days",
    "flask comments rescore --site blog, dry run",
)


def request_calls(client: Client, info: dict, key: str, name: str) -> dict:
    big, mid = info["biggest"], info["middle"]
    day_ago = urllib.parse.quote((datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds"))
    posted = iter(range(100_000))
    return {
        REQUESTS[0]: lambda: client.dashboard("/mod/stats"),
        REQUESTS[1]: lambda: client.dashboard("/mod/"),
        REQUESTS[2]: lambda: client.dashboard(f"/mod/sites/{big['site']}/threads/{big['key']}"),
        REQUESTS[3]: lambda: client.api("GET", "/api/v1/moderation/queue?queue=held&sort=oldest"),
        REQUESTS[4]: lambda: client.api("GET", "/api/v1/moderation/queue?queue=held&sort=score"),
        REQUESTS[5]: lambda: client.api("GET", "/api/v1/moderation/queue?queue=held&sort=score&site=blog"),
        REQUESTS[6]: lambda: client.api(
            "GET", f"/api/v1/sites/{big['site']}/threads/{big['key']}/comments?sort=oldest"
        ),
        REQUESTS[7]: lambda: client.api("GET", f"/api/v1/sites/{big['site']}/threads/{big['key']}/comments?sort=top"),
        REQUESTS[8]: lambda: client.api("GET", f"/api/v1/sites/news/comments?changed_since={day_ago}", auth=key),
        REQUESTS[9]: lambda: client.api("GET", f"/api/v1/sites/news/threads/{mid['key']}/comments"),
        REQUESTS[10]: lambda: client.api("GET", "/api/v1/sites/news/counts?keys=" + ",".join(info["keys"])),
        REQUESTS[11]: lambda: client.api(
            "POST",
            f"/api/v1/sites/news/threads/{mid['key']}/comments",
            {
                "body": f"Benchmark comment number {next(posted)} on {name}, at {time.time_ns()}.",
                "author_name": "Scale Bench",
            },
        ),
        REQUESTS[12]: lambda: client.api("GET", "/api/v1/sites/news/comments?limit=100", auth=key),
    }


def measure_requests(urls: dict[str, str], backend: str, repeat: int) -> dict[str, dict]:
    """Both sizes served at once, each request sent to one and then the other, ``repeat`` times:
    whatever else the machine does falls on both alike, and the ratio is of the same moments."""
    results: dict[str, dict] = {size: {} for size in urls}
    servers = {size: Server(url, f"{backend}-{size}") for size, url in urls.items()}
    try:
        for server in servers.values():
            server.__enter__()
        infos, calls, clients = {}, {}, {}
        for size, url in urls.items():
            infos[size] = facts(url)
            key = host_key(url)
            clients[size] = Client(servers[size].port, key)
            calls[size] = request_calls(clients[size], infos[size], key, f"{backend}-{size}")
            results[size]["_facts"] = infos[size]
        for label in REQUESTS:
            times: dict[str, list[float]] = {size: [] for size in urls}
            sizes_bytes: dict[str, list[int]] = {size: [] for size in urls}
            try:
                for size in urls:
                    calls[size][label]()  # warm: the worker's first use of each statement
                for _ in range(repeat):
                    for size in urls:
                        started = time.perf_counter()
                        status, length = calls[size][label]()
                        times[size].append(time.perf_counter() - started)
                        sizes_bytes[size].append(length)
                        if status >= 400:
                            raise RuntimeError(f"{size} answered {status}")
                for size in urls:
                    results[size][label] = {
                        "median_ms": statistics.median(times[size]) * 1000,
                        "bytes": statistics.median(sizes_bytes[size]),
                    }
            except Exception as exc:  # a failing request is a result too; the rest still run
                for size in urls:
                    results[size][label] = {"error": str(exc)[:300]}
            log(f"{backend}: {label}: " + ", ".join(f"{size} {cell(results[size][label])}" for size in urls))
        for size in urls:
            results[size][MAINTENANCE[0]] = measure_erase(clients[size], infos[size])
            log(f"{backend}-{size}: erase {results[size][MAINTENANCE[0]]}")
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)
    return results


def measure_erase(client: Client, info: dict) -> dict:
    """Median time per erased comment over a few authors with 3-8 comments (each erased once)."""
    per_comment = []
    for author, count in info["erasable"][:5]:
        started = time.perf_counter()
        status, _ = client.api(
            "POST", "/api/v1/sites/news/privacy/erase", {"email": author_email("news", author)}, auth=client.host_key
        )
        elapsed = time.perf_counter() - started
        if status != 200:
            return {"error": f"erase answered {status}"}
        per_comment.append(elapsed / count * 1000)
    if not per_comment:
        return {"error": "no author to erase"}
    return {"median_ms": statistics.median(per_comment), "authors": len(per_comment)}


# --- maintenance commands, on a copy -----------------------------------------------------------------


def copy_database(url: str) -> str:
    if url.startswith("sqlite:///"):
        source = Path(url[len("sqlite:///") :])
        target = RUN / f"copy-{source.name}"
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        subprocess.run(["sqlite3", str(source), "PRAGMA wal_checkpoint(TRUNCATE)"], check=False, capture_output=True)
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    base, name = url.rsplit("/", 1)
    copy = f"{name}_copy"
    admin = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"]
    subprocess.run(admin + [f"DROP DATABASE IF EXISTS {copy}"], check=True, capture_output=True)
    subprocess.run(admin + [f"CREATE DATABASE {copy} TEMPLATE {name}"], check=True, capture_output=True)
    return f"{base}/{copy}"


def drop_copy(url: str) -> None:
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
        return
    name = url.rsplit("/", 1)[1]
    # A command stopped at the time limit may still hold its connection for a moment.
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qc",
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        ],
        check=False,
        capture_output=True,
    )


def classifier_env() -> dict[str, str]:
    model = WORK / "scale-model"
    settings = model / "classifier.env"
    if not settings.exists():
        model.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            [str(VENV_BIN / "flask"), "comments", "build-test-model", str(model / "model")],
            env=service_env("sqlite://"),
            cwd=CODE,
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        ).stdout
        settings.write_text("\n".join(line for line in out.splitlines() if line.startswith("COMMENTS_")) + "\n")
    env = dict(line.split("=", 1) for line in settings.read_text().splitlines() if "=" in line)
    return {**env, "HF_HUB_OFFLINE": "1"}


def run_command(url: str, args: list[str], limit: float, extra: dict[str, str] | None = None) -> dict:
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [str(VENV_BIN / "flask"), "comments", *args],
            env=service_env(url, extra),
            cwd=CODE,
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return {"timeout_s": limit}
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        return {"error": result.stderr[-300:]}
    return {"median_ms": elapsed * 1000, "output": result.stdout[-300:]}


def measure_maintenance(url: str, limit: float) -> dict:
    results = {}
    copy = copy_database(url)
    try:
        results[MAINTENANCE[1]] = run_command(copy, ["purge", "--ip-older-than", "90"], limit)
        log(f"purge: {results[MAINTENANCE[1]]}")
        results[MAINTENANCE[2]] = run_command(copy, ["rescore", "--site", "blog"], limit, classifier_env())
        log(f"rescore: {results[MAINTENANCE[2]]}")
    finally:
        drop_copy(copy)
    return results


# --- the table -----------------------------------------------------------------------------------


def cell(figure: dict | None) -> str:
    if not figure:
        return "–"
    if "timeout_s" in figure:
        return f"> {figure['timeout_s']:.0f} s"
    if "error" in figure:
        return "error"
    ms = figure["median_ms"]
    return f"{ms / 1000:.1f} s" if ms >= 10_000 else f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def ratio(small: dict | None, big: dict | None) -> str:
    if not small or not big or "median_ms" not in small:
        return "–"
    if "timeout_s" in big:
        return f"> {big['timeout_s'] * 1000 / small['median_ms']:.0f}×"
    if "median_ms" not in big:
        return "–"
    return f"{big['median_ms'] / small['median_ms']:.2f}×"


def table(runs: list[dict]) -> str:
    """Markdown: per request, for each run (label, backend): 10k, 1M, ratio."""
    columns = [(run["label"], backend) for run in runs for backend in run["backends"]]
    head = "| request | " + " | ".join(f"{backend} {label}: 10k → 1M (ratio)" for label, backend in columns) + " |"
    lines = [head, "|---" * (len(columns) + 1) + "|"]
    by_key = {(run["label"], backend): run["backends"][backend] for run in runs for backend in run["backends"]}
    for name in (*REQUESTS, *MAINTENANCE):
        row = [name]
        for key in columns:
            sizes = by_key[key]
            small, big = sizes.get("10k", {}).get(name), sizes.get("1m", {}).get(name)
            row.append(f"{cell(small)} → {cell(big)} ({ratio(small, big)})")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def machine() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if line.startswith("Model name")
        )
    except StopIteration:
        model = platform.processor()
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="run")
    parser.add_argument("--sqlite-dir", default=str(WORK / "scale"), help="where scale10k.db and scale1m.db are")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="server holding scale10k, scale1m")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--sizes", default="10k,1m")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-requests", action="store_true")
    parser.add_argument("--skip-maintenance", action="store_true")
    parser.add_argument("--command-limit", type=float, default=900, help="seconds per maintenance command")
    parser.add_argument("--code", help="a directory holding another commit's code to run (default: this checkout)")
    parser.add_argument("--table", nargs="*", help="print the table of earlier results (JSON files) and stop")
    args = parser.parse_args()
    global CODE
    if args.code:
        CODE = Path(args.code).resolve()
    if args.table is not None:
        runs = [json.loads(Path(p).read_text()) for pattern in args.table for p in sorted(glob.glob(pattern))]
        print(table(runs))
        return
    backends = {
        "sqlite": lambda size: f"sqlite:///{Path(args.sqlite_dir).resolve()}/scale{size}.db",
        "postgres": lambda size: f"{args.pg}/scale{size}",
    }
    run = {
        "label": args.label,
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "backends": {},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scale-{args.label}-{datetime.now(UTC).strftime('%Y%m%dT%H%M')}.json"
    for backend, url_of in backends.items():
        if args.only and backend != args.only:
            continue
        urls = {size: url_of(size) for size in args.sizes.split(",")}
        sizes: dict[str, dict] = {size: {} for size in urls}
        if not args.skip_requests:
            sizes = measure_requests(urls, backend, args.repeat)
        run["backends"][backend] = sizes
        out.write_text(json.dumps(run, indent=1, default=str))
        if not args.skip_maintenance:
            for size, url in urls.items():
                sizes[size].update(measure_maintenance(url, args.command_limit))
                out.write_text(json.dumps(run, indent=1, default=str))
    print(f"\n{run['machine']}, {run['date']}\n")
    print(table([run]))
    log(f"written {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What signing in costs a post: anonymous posting against posting with an SSO token, side by side.

    .venv/bin/python bench/identity.py posting               # SQLite, gunicorn -w 2, wrk (about 5 min)
    .venv/bin/python bench/identity.py posting --postgres    # also PostgreSQL (drops --pg-database first)
    .venv/bin/python bench/identity.py profile               # one process: CPU per post each way + cProfile
    .venv/bin/python bench/identity.py profile --repo DIR    # the same with another checkout's code

``posting`` starts the service once (``gunicorn -w 2``, rate limits and scoring off, as
run_read_post.py does), creates the site and its SSO secret, and posts to the same site with wrk,
alternating anonymous and signed-in rounds (ABBA: anonymous first in odd rounds, signed-in first in
even ones, so that a drift of the machine touches both alike). Both sides post the same text mix
(seed_data's Markdown bodies, each made unique per request) as the same 300 readers: anonymous
with a stable name and an email (one author record each, as for a returning reader), signed in with
one token per reader (HS256, Coral's claims, ``jti``, a third of them with a badge) sent as
``Authorization: Bearer`` (wrk_bench.lua takes a header per template line). Each side posts to its
own thread of the site. A warm-up (each reader posts once on each side) first creates the 300 author records on
both sides, so the rounds measure returning readers. The figure that matters is the server's CPU
per post (master and workers, from /proc): steadier than posts/s on a shared machine.

``profile`` does the same in one process with the test client (no HTTP server): the CPU time of
each post (``time.process_time``), alternating, then cProfile of each side, and prints where the
signed-in side's extra time goes (token verification, the secrets' decryption, the revocation
check, the author record).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run_read_post as rrp  # noqa: E402
import seed_data  # noqa: E402

READERS = 300
ANON_THREAD = "post-anonymous"
SSO_THREAD = "post-signed-in"
WORK = rrp.WORK / "identity"

if not rrp.OUR_VENV.exists():  # a worktree without its own .venv: the interpreter running this
    rrp.OUR_VENV = Path(sys.prefix)
rrp.RUN = WORK


def log(message: str) -> None:
    rrp.log(message)


# --- the readers, the tokens and the posted bodies ----------------------------------------------


def readers() -> list[dict]:
    items = seed_data.thread(seed=2, roots=READERS, replies_per_root=0)
    people = []
    for i, item in enumerate(items):
        people.append(
            {
                "id": f"reader-{i}",
                "name": item["author"][:64],
                "email": f"reader{i}@example.org",
                "badges": ["Subscriber"] if i % 3 == 0 else [],
                "body": item["body"],
            }
        )
    return people


def token_for(person: dict, secret: str, now: int) -> str:
    import jwt

    claims = {
        "user": {
            "id": person["id"],
            "username": person["name"],
            "email": person["email"],
            "badges": person["badges"],
        },
        "iat": now,
        "exp": now + 4 * 3600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def write_templates(people: list[dict], secret: str, run_tag: str) -> dict[str, Path]:
    """One line per reader and side; @@N@@ makes each body unique per request."""
    now = int(time.time())
    anon, sso = WORK / "post-anonymous.jsonl", WORK / "post-signed-in.jsonl"
    with open(anon, "w") as a, open(sso, "w") as s:
        for person in people:
            text = f"{person['body']}\n\nComment @@N@@ of run {run_tag}."
            doc = {"body": text, "author_name": person["name"], "author_email": person["email"]}
            a.write(json.dumps(doc, ensure_ascii=False) + "\n")
            header = f"Authorization: Bearer {token_for(person, secret, now)}"
            s.write(header + "\t" + json.dumps({"body": text}, ensure_ascii=False) + "\n")
    return {"anonymous": anon, "signed_in": sso}


# --- the server -------------------------------------------------------------------------------


def env_for(database_url: str) -> dict[str, str]:
    # PYTHONPATH first: the virtualenv's editable install may point at another checkout.
    return {**rrp.our_env(database_url), "PYTHONPATH": str(rrp.REPO)}


ISSUE_SECRET = """
from sqlalchemy import select
from comments import create_app
from comments.extensions import db
from comments.models import Site
from comments.services import sso
from comments.services.audit import Actor
app = create_app()
with app.app_context():
    site = db.session.scalars(select(Site).where(Site.slug == {slug!r})).one()
    secret = sso.issue_secret(site, Actor("operator", "bench"))
    db.session.commit()
    print(secret)
"""


def prepare(database_url: str) -> str:
    """Schema, site and SSO secret; returns the secret."""
    env = env_for(database_url)
    flask = str(rrp.OUR_VENV / "bin" / "flask")
    for cmd in (
        [flask, "--app", "wsgi", "db", "upgrade"],
        [flask, "--app", "wsgi", "comments", "create-site", rrp.SITE, "--origin", "http://127.0.0.1:9"],
    ):
        rrp.run(cmd, env=env, cwd=rrp.REPO, timeout=180)
    python = str(rrp.OUR_VENV / "bin" / "python")
    out = rrp.run([python, "-c", ISSUE_SECRET.format(slug=rrp.SITE)], env=env, cwd=rrp.REPO, timeout=120)
    return out.stdout.strip().splitlines()[-1]


def fresh_postgres(name: str) -> str:
    for cmd in (
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name],
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", name],
    ):
        rrp.run(cmd, timeout=60)
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def open_thread(server: rrp.Server, key: str) -> None:
    status, _, body = rrp.http_call(
        server.port,
        "POST",
        rrp.thread_path_ours(key),
        {"body": f"Opening the thread {key}.", "author_name": f"Opener of {key}"},
    )
    if status != 201:
        raise RuntimeError(f"opening {key}: {status} {body[:300]!r}")


def check_signed_in_post(server: rrp.Server, template: Path) -> dict:
    """One signed-in post by hand, to be sure the side measures what it says (name and badges
    from the token, verified)."""
    header, _, doc = template.read_text().splitlines()[0].partition("\t")
    name, _, value = header.partition(": ")
    payload = json.loads(doc.replace("@@N@@", "check"))
    status, _, body = rrp.http_call(server.port, "POST", rrp.thread_path_ours(SSO_THREAD), payload, {name: value})
    answer = json.loads(body)
    if status != 201 or not answer["comment"].get("author_verified"):
        raise RuntimeError(f"a signed-in post was not accepted as signed in: {status} {body[:500]!r}")
    return {k: answer["comment"].get(k) for k in ("author_name", "author_badges", "author_verified", "status")}


# --- posting ----------------------------------------------------------------------------------


def measure_posting(kind: str, database_url: str, args: argparse.Namespace, results: dict, run_tag: str) -> None:
    secret = prepare(database_url)
    templates = write_templates(readers(), secret, run_tag)
    port = rrp.free_port()
    cmd = [str(rrp.OUR_VENV / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    server = rrp.Server(f"ours-{kind}", cmd, env_for(database_url), rrp.REPO, port, "/healthz")
    args.servers.append(server)
    server.start()
    try:
        open_thread(server, ANON_THREAD)
        open_thread(server, SSO_THREAD)
        results["setup"][f"{kind}_signed_in_check"] = check_signed_in_post(server, templates["signed_in"])
        sides = {
            "anonymous": (rrp.thread_path_ours(ANON_THREAD), templates["anonymous"]),
            "signed_in": (rrp.thread_path_ours(SSO_THREAD), templates["signed_in"]),
        }
        # Warm-up: every reader posts once on each side (their author records exist), by hand:
        # a timed wrk run on a busy machine may not get through all of them.
        for side, (path, template) in sides.items():
            log(f"{kind}: warm-up, {side}: each of the {READERS} readers posts once")
            for n, line in enumerate(template.read_text().splitlines()):
                header, _, doc = line.rpartition("\t")
                name, _, value = header.partition(": ")
                payload = json.loads(doc.replace("@@N@@", f"{run_tag}w{n}"))
                status, _, body = rrp.http_call(server.port, "POST", path, payload, {name: value} if name else None)
                if status != 201:
                    raise RuntimeError(f"warm-up {side}: {status} {body[:300]!r}")
        per: dict[str, list[dict]] = {side: [] for side in sides}
        for round_no in range(1, args.rounds + 1):
            order = list(sides) if round_no % 2 else list(reversed(sides))
            for side in order:
                path, template = sides[side]
                log(f"{kind}: round {round_no}/{args.rounds}: {side}")
                r = rrp.wrk(server, path, args, expect=201, templates=template, tag=f"{run_tag}r{round_no}{side[0]}")
                if r["unexpected"]:
                    raise RuntimeError(f"{side}: unexpected answers {r['statuses']}")
                log(
                    f"  {r['ok_per_second']:.1f} posts/s, {r['server_cpu_ms_per_ok']:.2f} ms CPU per post, "
                    f"p50 {r['latency_ms']['p50']:.1f} ms, p95 {r['latency_ms']['p95']:.1f} ms, "
                    f"other CPUs {r['other_cpu_cores']:.2f}"
                )
                per[side].append(r)
        for side, rounds in per.items():
            results["raw"][f"{kind}_{side}"] = rounds
            results["summary"][f"{kind}_{side}"] = rrp.summarise(rounds)
        anon, sso = per["anonymous"], per["signed_in"]
        results["summary"][f"{kind}_ratio_per_round"] = [
            s["server_cpu_ms_per_ok"] / a["server_cpu_ms_per_ok"] for a, s in zip(anon, sso, strict=True)
        ]
    finally:
        server.stop()


def posting_table(results: dict, kinds: list[str]) -> str:
    lines = [
        "| database | side | posts/s (per round) | server CPU ms per post (per round) | p50 / p95 ms | other CPUs (max) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind in kinds:
        for side in ("anonymous", "signed_in"):
            s = results["summary"][f"{kind}_{side}"]
            raw = results["raw"][f"{kind}_{side}"]
            rounds = ", ".join(f"{r['server_cpu_ms_per_ok']:.2f}" for r in raw)
            per_s = ", ".join(f"{v:.0f}" for v in s["per_round_ok_per_second"])
            lines.append(
                f"| {kind} | {side} | {s['ok_per_second']:.1f} ({per_s}) | **{s['server_cpu_ms_per_ok']:.2f}** ({rounds}) "
                f"| {s['p50_ms']:.1f} / {s['p95_ms']:.1f} | {s['other_cpu_cores']:.2f} |"
            )
    lines.append("")
    lines.append("| database | CPU per post, signed in / anonymous (all rounds) | per round | target |")
    lines.append("|---|---:|---|---|")
    for kind in kinds:
        a = results["summary"][f"{kind}_anonymous"]["server_cpu_ms_per_ok"]
        s = results["summary"][f"{kind}_signed_in"]["server_cpu_ms_per_ok"]
        per = ", ".join(f"{v:.3f}" for v in results["summary"][f"{kind}_ratio_per_round"])
        verdict = "met" if s / a <= 1.10 else "**missed**"
        lines.append(f"| {kind} | **{s / a:.3f}** (+{(s - a):.2f} ms) | {per} | ≤ 1.10: {verdict} |")
    return "\n".join(lines)


def posting(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    started_at = datetime.now(UTC)
    run_tag = started_at.strftime("%Y%m%dT%H%M%SZ")
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    rrp.RESULTS.mkdir(parents=True, exist_ok=True)
    head = rrp.run(["git", "describe", "--always", "--dirty"], cwd=rrp.REPO).stdout.strip()
    results: dict = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": " ".join([sys.executable, *sys.argv]),
        "head": head,
        "machine": rrp.machine(),
        "settings": {k: getattr(args, k) for k in ("duration", "rounds", "connections")},
        "setup": {},
        "raw": {},
        "summary": {},
    }
    args.servers = []
    args.quiet_budget, args.quiet_spent = 240.0, 0.0
    kinds = ["sqlite"]
    try:
        measure_posting("sqlite", f"sqlite:///{WORK / 'identity.db'}", args, results, run_tag)
        if args.postgres:
            kinds.append("pg")
            measure_posting("pg", fresh_postgres(args.pg_database), args, results, run_tag)
    finally:
        for srv in args.servers:
            srv.stop()
    out = rrp.RESULTS / f"identity-{run_tag}.json"
    for rounds in results["raw"].values():
        for r in rounds:
            r.pop("wrk_output", None)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    m = results["machine"]
    print(
        f"\n{m['nproc']} CPUs ({m['cpu_model']}); code {head}; {started_at:%Y-%m-%d %H:%M} UTC; "
        f"wrk -t1 -c{args.connections} -d{args.duration}s, ABBA x{args.rounds}"
    )
    print(posting_table(results, kinds))
    print(f"\nraw results: {out}")
    return 0


# --- in one process ---------------------------------------------------------------------------

WATCHED = [
    # (label, file suffix, function name): where a signed-in post may spend more than an anonymous one
    ("signed_in_reader (the whole token check)", "api/signin.py", "signed_in_reader"),
    ("  sso._secrets (query + decrypt)", "services/sso.py", "_secrets"),
    ("    of which sso._open (Fernet decrypt)", "services/sso.py", "_open"),
    ("    of which sso._cipher (key derivation)", "services/sso.py", "_cipher"),
    ("  jwt.decode (PyJWT, HMAC)", "jwt/api_jwt.py", "decode"),
    ("  sso._is_revoked (jti query)", "services/sso.py", "_is_revoked"),
    ("  sso._reader (claims checks)", "services/sso.py", "_reader"),
    ("readers.for_reader", "services/readers.py", "for_reader"),
    ("readers.for_anonymous", "services/readers.py", "for_anonymous"),
    ("submission.submit", "services/submission.py", "submit"),
]


def make_app(database_url: str, repo: Path):
    sys.path.insert(0, str(repo))
    for key in [k for k in os.environ if k.startswith("COMMENTS_")]:
        del os.environ[key]
    from comments import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "SCORING_MODE": "off",
            "RATELIMIT_ENABLED": False,
        }
    )


def profile(args: argparse.Namespace) -> int:
    from flask_migrate import upgrade

    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    app = make_app(f"sqlite:///{WORK / 'profile.db'}", (args.repo or rrp.REPO).resolve())
    from comments.extensions import db
    from comments.services import sites, sso
    from comments.services.audit import Actor

    with app.app_context():
        upgrade()
        site, _ = sites.create_site(rrp.SITE, ["http://127.0.0.1:9"])
        secret = sso.issue_secret(site, Actor("operator", "bench"))
        db.session.commit()
    people = readers()
    now = int(time.time())
    tokens = [token_for(p, secret, now) for p in people]
    client = app.test_client()
    counter = iter(range(10**9))

    def post(side: str, i: int) -> float:
        person = people[i % READERS]
        text = f"{person['body']}\n\nComment {next(counter)}."
        started = time.process_time()
        if side == "anonymous":
            doc = {"body": text, "author_name": person["name"], "author_email": person["email"]}
            resp = client.post(f"/api/v1/sites/{rrp.SITE}/threads/{ANON_THREAD}/comments", json=doc)
        else:
            resp = client.post(
                f"/api/v1/sites/{rrp.SITE}/threads/{SSO_THREAD}/comments",
                json={"body": text},
                headers={"Authorization": f"Bearer {tokens[i % READERS]}"},
            )
        spent = time.process_time() - started
        if resp.status_code != 201:
            raise RuntimeError(f"{side}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        return spent

    log(f"warm-up: every one of the {READERS} readers posts once each way")
    for i in range(READERS):
        post("anonymous", i)
        post("signed_in", i)
    times: dict[str, list[float]] = {"anonymous": [], "signed_in": []}
    log(f"timing {args.posts} posts each way, alternating")
    for i in range(args.posts):
        for side in ("anonymous", "signed_in") if i % 2 else ("signed_in", "anonymous"):
            times[side].append(post(side, i))
    med = {side: statistics.median(v) * 1000 for side, v in times.items()}
    mean = {side: statistics.fmean(v) * 1000 for side, v in times.items()}
    print(f"\nCPU per post in one process ({args.posts} each, test client, SQLite):")
    for side in times:
        print(f"  {side:10s} median {med[side]:.3f} ms, mean {mean[side]:.3f} ms")
    print(
        f"  signed in / anonymous: median {med['signed_in'] / med['anonymous']:.3f}, "
        f"mean {mean['signed_in'] / mean['anonymous']:.3f}"
    )
    per_post: dict[str, dict[str, float]] = {}
    own: dict[str, dict[tuple, float]] = {}
    cumulative: dict[str, dict[tuple, float]] = {}
    for side in ("anonymous", "signed_in"):
        prof = cProfile.Profile()
        prof.enable()
        for i in range(args.posts):
            post(side, i)
        prof.disable()
        stats = pstats.Stats(prof, stream=io.StringIO())
        own[side] = {key: entry[2] for key, entry in stats.stats.items()}  # type: ignore[attr-defined]
        cumulative[side] = {key: entry[3] for key, entry in stats.stats.items()}  # type: ignore[attr-defined]
        per_post[side] = {}
        for label, suffix, name in WATCHED:
            total = sum(
                entry[3]
                for (filename, _, func), entry in stats.stats.items()  # type: ignore[attr-defined]
                if func == name and filename.endswith(suffix)
            )
            per_post[side][label] = total * 1000 / args.posts
        if side == "signed_in" and args.top:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(args.top)
            (WORK / "profile-signed-in.txt").write_text(out.getvalue())
    print("\nUnder cProfile, cumulative ms per post (cProfile inflates Python calls; compare sides):")
    print(f"  {'':45s} {'anonymous':>10s} {'signed in':>10s}")
    for label, _, _ in WATCHED:
        print(f"  {label:45s} {per_post['anonymous'][label]:10.3f} {per_post['signed_in'][label]:10.3f}")
    diff = {
        key: (own["signed_in"].get(key, 0.0) - own["anonymous"].get(key, 0.0)) * 1000 / args.posts
        for key in own["anonymous"].keys() | own["signed_in"].keys()
    }
    ours = {
        key: (cumulative["signed_in"].get(key, 0.0) - cumulative["anonymous"].get(key, 0.0)) * 1000 / args.posts
        for key in cumulative["anonymous"].keys() | cumulative["signed_in"].keys()
        if "/comments/" in key[0] or "/jwt/" in key[0]
    }
    print("\nCumulative time per post in our code and PyJWT, signed in minus anonymous, largest first:")
    for (filename, line, func), ms in sorted(ours.items(), key=lambda kv: -abs(kv[1]))[:25]:
        where = "/".join(Path(filename).parts[-2:])
        print(f"  {ms:+8.3f} ms  {func} ({where}:{line})")
    print("\nOwn time (tottime) per post, signed in minus anonymous, largest first:")
    for (filename, line, func), ms in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:25]:
        where = "/".join(Path(filename).parts[-2:])
        print(f"  {ms:+8.3f} ms  {func} ({where}:{line})")
    if args.top:
        print(f"\nfull cumulative profile of the signed-in posts: {WORK / 'profile-signed-in.txt'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("posting", help="gunicorn + wrk, anonymous and signed-in rounds alternating")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk round (default 10)")
    p.add_argument("--rounds", type=int, default=4, help="rounds per side, ABBA order (default 4)")
    p.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    p.add_argument("--quiet-wait", type=int, default=30, help="seconds to wait for a quiet machine (default 30)")
    p.add_argument("--quiet-cores", type=float, default=0.15, help="background CPU regarded as quiet")
    p.add_argument("--retries", type=int, default=1, help="repeat a disturbed measurement this often")
    p.add_argument("--postgres", action="store_true", help="also on PostgreSQL (--pg-database, dropped first)")
    p.add_argument("--pg-database", default="test_bench")
    q = sub.add_parser("profile", help="one process, test client: CPU per post each way, cProfile")
    q.add_argument("--posts", type=int, default=1000, help="posts per side (default 1000)")
    q.add_argument("--top", type=int, default=60, help="lines of the signed-in profile to keep (0: none)")
    q.add_argument("--repo", type=Path, default=None, help="another checkout's code (git archive REV | tar -x -C DIR)")
    args = parser.parse_args()
    if args.command == "posting":
        if not (1 <= args.duration <= 60 and 1 <= args.rounds <= 12 and 1 <= args.connections <= 64):
            parser.error("keep --duration 1-60, --rounds 1-12, --connections 1-64")
        return posting(args)
    if not 10 <= args.posts <= 100_000:
        parser.error("keep --posts 10-100000")
    return profile(args)


if __name__ == "__main__":
    sys.exit(main())

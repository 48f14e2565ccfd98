"""Webhooks: registration, SSRF refusals, the durable outbox, signed deliveries and retries.

A real HTTP receiver runs on a local thread; ``WEBHOOK_ALLOW_PRIVATE`` is on only where a test
needs to reach it, as an operator would set it for local testing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from comments.models import AuditEvent, WebhookDelivery, utcnow
from comments.services import safehttp
from comments.tasks.outbox import drain
from tests.helpers import set_settings


class Receiver:
    """A host's endpoint: records what arrives, answers with the statuses it is told to."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/comments?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    server = Receiver()
    yield server
    server.close()


@pytest.fixture()
def host(site):
    return {"Authorization": f"Bearer {site.test_api_key}"}


HOOKS = "/api/v1/sites/news/webhooks"
ALL_EVENTS = ["comment.published", "comment.held", "comment.rejected", "comment.reported", "comment.decided"]


def _register(client, host, url, events=ALL_EVENTS):
    response = client.post(HOOKS, headers=host, json={"url": url, "events": events})
    assert response.status_code == 201, response.json
    return response.json


def receiver_verifies(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    """What a host's receiver does, written from the README, without the service's code."""
    timestamp = headers["X-Comments-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, sent.strip()) for sent in headers["X-Comments-Signature"].split(","))


def test_deliveries_are_signed_and_verifiable(app, client, db, api, site, host, receiver):
    created = _register(client, host, receiver.url, ["comment.published"])
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["webhook"]["secret_prefix"] == secret[:10]
    assert "secret" not in client.get(HOOKS, headers=host).json["webhooks"][0]
    comment_id = api.post("Hello hooks").json["comment"]["id"]
    assert receiver.requests == []  # stored in the outbox, delivered by a worker
    run = drain(app)
    assert run.delivered == 1
    (request,) = receiver.requests
    assert request["path"] == "/hooks/comments?x=1"
    assert receiver_verifies(secret, request["headers"], request["body"])
    assert not receiver_verifies("whsec_wrong", request["headers"], request["body"])
    assert not receiver_verifies(secret, request["headers"], request["body"] + b" ")
    payload = json.loads(request["body"])
    assert payload["event"] == "comment.published" and payload["site"] == "news"
    assert payload["data"]["comment"]["id"] == comment_id
    assert payload["data"]["comment"]["body"] == "Hello hooks"
    assert payload["data"]["thread"]["key"] == "article-1"
    assert request["headers"]["X-Comments-Event"] == "comment.published"
    log = client.get(f"{HOOKS}/{created['webhook']['id']}/deliveries", headers=host).json["deliveries"]
    assert log[0]["status"] == "delivered" and log[0]["response_status"] == 200 and log[0]["attempts"] == 1


def test_a_stale_timestamp_fails_verification(receiver):
    from comments.services.webhooks.signing import sign, verify

    old = int(time.time()) - 3600
    body = b'{"event": "ping"}'
    signature = sign("whsec_x", old, body)
    assert not verify("whsec_x", str(old), signature, body)
    assert verify("whsec_x", str(old), signature, body, now=old + 10)


def test_only_subscribed_events_and_every_kind(app, client, db, api, site, host, receiver, moderator):
    _register(client, host, receiver.url, ["comment.held", "comment.rejected", "comment.reported", "comment.decided"])
    set_settings(site, suspect_words=["crypto"], banned_words=["scam"], report_threshold=1)
    api.post("A fine comment")  # published: not subscribed
    held_id = api.post("crypto tips", author="Bo", ip="192.0.2.2").json["comment"]["id"]
    api.post("a scam", author="Cy", ip="192.0.2.3")
    published_id = api.post("Another fine one", author="Di", ip="192.0.2.4").json["comment"]["id"]
    client.post(f"/api/v1/comments/{published_id}/reports", json={"reason": "spam"})
    token = client.post(
        "/api/v1/auth/token", json={"email": "mod@news.example", "password": "correct horse battery"}
    ).json["token"]
    decided = client.post(
        f"/api/v1/moderation/comments/{held_id}/decision",
        json={"action": "reject"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert decided.status_code == 200
    drain(app)
    events = [json.loads(r["body"])["event"] for r in receiver.requests]
    assert events == ["comment.held", "comment.rejected", "comment.reported", "comment.rejected", "comment.decided"]
    reported = json.loads(receiver.requests[2]["body"])["data"]
    assert reported["report"]["reason"] == "spam" and reported["queued_for_review"] is True
    decision = json.loads(receiver.requests[4]["body"])["data"]["decision"]
    assert decision["action"] == "reject" and decision["by"]["id"] == "mod@news.example"


def test_a_failed_delivery_is_retried_with_backoff(app, client, db, api, site, host, receiver):
    created = _register(client, host, receiver.url, ["comment.published"])
    receiver.statuses = [500, 503]
    api.post("Hello")
    assert "webhook_outbox_pending 1.0" in client.get("/metrics").get_data(as_text=True)
    first = drain(app)
    assert first.retrying == 1 and len(receiver.requests) == 1
    delivery = db.session.query(WebhookDelivery).one()
    assert delivery.status == "pending" and delivery.attempts == 1
    base = app.config["WEBHOOK_RETRY_BASE_SECONDS"]
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert base * 0.5 - 1 <= wait <= base + 1
    assert drain(app).ids == []  # not due yet
    for expected_attempts in (2, 3):
        db.session.query(WebhookDelivery).update({"next_attempt_at": utcnow() - timedelta(seconds=1)})
        db.session.commit()
        drain(app)
        db.session.expire_all()
        delivery = db.session.query(WebhookDelivery).one()
        assert delivery.attempts == expected_attempts
    assert delivery.status == "delivered" and len(receiver.requests) == 3
    text = client.get("/metrics").get_data(as_text=True)
    assert "webhook_outbox_pending 0.0" in text and 'comments_webhook_attempts_total{outcome="retrying"}' in text
    # the same signed body every time, so receivers can deduplicate on X-Comments-Delivery
    assert len({r["body"] for r in receiver.requests}) == 1
    assert {r["headers"]["X-Comments-Delivery"] for r in receiver.requests} == {str(delivery.id)}
    log = client.get(f"{HOOKS}/{created['webhook']['id']}/deliveries", headers=host).json["deliveries"][0]
    assert [a["status"] for a in log["attempt_log"]] == [500, 503, 200]


def test_a_delivery_is_given_up_after_the_last_attempt_and_can_be_retried(
    app, client, db, api, site, host, receiver, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_BASE_SECONDS", 0)
    created = _register(client, host, receiver.url, ["comment.published"])
    receiver.statuses = [500, 500]
    api.post("Hello")
    drain(app)
    drain(app)
    delivery = db.session.query(WebhookDelivery).one()
    assert delivery.status == "failed" and delivery.attempts == 2
    assert delivery.last_error == "the receiver answered 500"
    webhook_id = created["webhook"]["id"]
    retried = client.post(f"{HOOKS}/{webhook_id}/deliveries/{delivery.id}/retry", headers=host)
    assert retried.status_code == 202 and retried.json["status"] == "pending"
    drain(app)
    failed_only = client.get(f"{HOOKS}/{webhook_id}/deliveries", headers=host, query_string={"status": "failed"})
    assert failed_only.json["deliveries"] == []
    assert len(receiver.requests) == 3


def test_a_delivery_survives_a_restart(app, client, db, api, site, host, receiver, tmp_path):
    """The outbox row is written with the comment; a new process delivers it."""
    from comments import create_app

    _register(client, host, receiver.url, ["comment.published"])
    receiver.statuses = [500]
    api.post("Before the crash")
    drain(app)  # the first attempt fails; then the process "dies"
    db.session.query(WebhookDelivery).update({"next_attempt_at": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    restarted = create_app(
        {
            **{k: app.config[k] for k in ("DATABASE_URL", "SECRET_KEY", "HASH_KEY")},
            "SCORING_MODE": "off",
            "WEBHOOK_DELIVERY": "worker",
            "WEBHOOK_ALLOW_PRIVATE": True,
            "REDIS_URL": app.config["REDIS_URL"],
        }
    )
    try:
        assert drain(restarted).delivered == 1
    finally:
        with restarted.app_context():
            db.engine.dispose()
    assert len(receiver.requests) == 2


def test_a_worker_killed_mid_attempt_only_delays_the_delivery(app, db, api, client, site, host, receiver):
    from comments.services.webhooks.delivery import claim

    _register(client, host, receiver.url, ["comment.published"])
    api.post("Hello")
    delivery = db.session.query(WebhookDelivery).one()
    assert claim(delivery.id, lease_seconds=60)  # a worker took it and then died
    db.session.commit()
    assert not claim(delivery.id, lease_seconds=60)  # nobody else takes it meanwhile
    db.session.rollback()
    assert drain(app).ids == []
    db.session.query(WebhookDelivery).update({"next_attempt_at": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    assert drain(app).delivered == 1


def test_the_in_process_thread_delivers(app, client, db, api, site, host, receiver, monkeypatch):
    from comments.tasks.outbox import OutboxWorker

    monkeypatch.setitem(app.config, "WEBHOOK_POLL_SECONDS", 0.05)
    _register(client, host, receiver.url, ["comment.published"])
    api.post("Hello")
    worker = OutboxWorker(app)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert len(receiver.requests) == 1


def test_ping(app, client, db, site, host, receiver):
    created = _register(client, host, receiver.url, ["comment.held"])
    response = client.post(f"{HOOKS}/{created['webhook']['id']}/ping", headers=host)
    assert response.status_code == 202 and response.json["event"] == "ping"
    drain(app)
    assert json.loads(receiver.requests[0]["body"])["event"] == "ping"


# --- refusing private addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://[::]/",
        # ranges Python 3.11's is_global still calls global: local-use NAT64, IPv4-translated, site-local
        "http://[64:ff9b:1::a00:1]/",
        "http://[::ffff:0:7f00:1]/",
        "http://[fec0::1]/",
    ],
)
def test_private_addresses_are_refused(client, site, host, url):
    response = client.post(HOOKS, headers=host, json={"url": url, "events": ["comment.held"]})
    assert response.status_code == 422, url
    assert response.json["error"]["code"] == "webhook_url_not_allowed"
    assert "url" in response.json["error"]["fields"]
    if url == "http://localhost/hook":
        # The answer does not say which address the name resolved to (that would map the network).
        assert "127.0.0.1" not in response.json["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/hook", "events": ["comment.held"]},
        {"url": "https://user:pw@example.com/hook", "events": ["comment.held"]},
        {"url": "not a url", "events": ["comment.held"]},
        {"url": "https://example.com/hook", "events": ["comment.exploded"]},
        {"url": "https://example.com/hook", "events": []},
        {"url": "https://example.com/hook"},
        {"events": ["comment.held"]},
    ],
)
def test_bad_webhook_bodies_are_422(client, site, host, body):
    assert client.post(HOOKS, headers=host, json=body).status_code == 422


def test_an_address_that_turns_private_is_refused_at_connect_time(app, client, db, api, site, host, monkeypatch):
    """DNS rebinding: the name was public when registered, points inward when delivering."""
    answers = {"hooks.example.com": "93.184.215.14"}

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(safehttp.socket, "getaddrinfo", fake_getaddrinfo)
    _register(client, host, "https://hooks.example.com/in", ["comment.published"])
    answers["hooks.example.com"] = "127.0.0.1"
    connections = []
    monkeypatch.setattr(safehttp.socket, "create_connection", lambda *a, **k: connections.append(a))
    api.post("Hello")
    drain(app)
    delivery = db.session.query(WebhookDelivery).one()
    assert connections == []  # never connected
    assert delivery.last_error.startswith("refused:") and "non-public" in delivery.last_error
    assert "127.0.0.1" not in delivery.last_error  # the host's delivery log does not map our network


def test_the_vetted_address_is_the_one_connected_to(monkeypatch):
    """The connection goes to the address that was checked, with the name as Host."""
    resolved = iter(["93.184.215.14", "127.0.0.1"])  # a rebinding resolver: public, then private
    monkeypatch.setattr(
        safehttp.socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(resolved), port))],
    )
    seen = []

    def fake_connect(address, timeout=None):
        seen.append(address)
        raise ConnectionRefusedError("test")

    monkeypatch.setattr(safehttp.socket, "create_connection", fake_connect)
    with pytest.raises(ConnectionRefusedError):
        safehttp.post("http://hooks.example.com/in", b"{}", {}, timeout=1, allow_private=False)
    assert seen == [("93.184.215.14", 80)]


def test_webhooks_are_managed_and_audited(app, client, db, site, host, receiver, monkeypatch):
    created = _register(client, host, receiver.url, ["comment.held"])
    webhook_id = created["webhook"]["id"]
    changed = client.patch(
        f"{HOOKS}/{webhook_id}", headers=host, json={"events": ["comment.rejected"], "active": False}
    )
    assert changed.status_code == 200
    assert changed.json["webhook"]["events"] == ["comment.rejected"] and changed.json["webhook"]["active"] is False
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    moved = client.patch(f"{HOOKS}/{webhook_id}", headers=host, json={"url": "http://10.0.0.1/"})
    assert moved.status_code == 422 and moved.json["error"]["code"] == "webhook_url_not_allowed"
    assert client.patch(f"{HOOKS}/{webhook_id}", headers=host, json={"bogus": 1}).status_code == 422
    assert client.get(f"{HOOKS}/{webhook_id}", headers=host).status_code == 200
    assert client.delete(f"{HOOKS}/{webhook_id}", headers=host).status_code == 204
    assert client.get(f"{HOOKS}/{webhook_id}", headers=host).status_code == 404
    actions = [
        e.action
        for e in db.session.query(AuditEvent).filter(AuditEvent.action.like("webhook_%")).order_by(AuditEvent.id)
    ]
    assert actions[0] == "webhook_created" and "webhook_changed" in actions and actions[-1] == "webhook_deleted"


def test_another_sites_webhooks_are_out_of_reach(client, db, site, host, receiver):
    from comments.services.sites import create_site

    other, key = create_site("other", [])
    db.session.commit()
    theirs = client.post(
        "/api/v1/sites/other/webhooks",
        headers={"Authorization": f"Bearer {key}"},
        json={"url": receiver.url, "events": ["comment.held"]},
    ).json["webhook"]["id"]
    assert client.get(f"{HOOKS}/{theirs}", headers=host).status_code == 404
    assert client.delete(f"{HOOKS}/{theirs}", headers=host).status_code == 404
    assert client.get(f"/api/v1/sites/other/webhooks/{theirs}", headers=host).status_code == 403


def test_a_receiver_that_is_down_is_retried_and_logged(app, client, db, api, site, host, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _register(client, host, f"http://127.0.0.1:{port}/hook", ["comment.published"])
    api.post("Hello")
    assert drain(app).retrying == 1
    delivery = db.session.query(WebhookDelivery).one()
    assert delivery.status == "pending" and delivery.response_status is None
    assert delivery.last_error.startswith("ConnectionRefusedError")


def test_one_broken_delivery_does_not_stop_the_others(app, client, db, api, site, host, receiver, monkeypatch):
    _register(client, host, receiver.url, ["comment.published"])
    api.post("First")
    api.post("Second", author="Bo", ip="192.0.2.2")
    calls = []
    real_post = safehttp.post

    def flaky(url, body, headers, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            raise UnicodeEncodeError("ascii", "é", 0, 1, "test")
        return real_post(url, body, headers, **kwargs)

    monkeypatch.setattr(safehttp, "post", flaky)
    run = drain(app)
    assert run.retrying == 1 and run.delivered == 1 and len(receiver.requests) == 1


@pytest.mark.parametrize(
    "path, params",
    [
        ("/deliveries", {"status": "lost"}),
        ("/deliveries", {"limit": 0}),
        ("/deliveries", {"cursor": "nope"}),
        ("/deliveries", {"extra": 1}),
    ],
)
def test_delivery_log_refuses_bad_queries(client, site, host, receiver, path, params):
    webhook_id = _register(client, host, receiver.url, ["comment.held"])["webhook"]["id"]
    assert client.get(f"{HOOKS}/{webhook_id}{path}", headers=host, query_string=params).status_code == 422


def test_unknown_webhooks_and_deliveries_are_404(client, site, host, receiver):
    webhook_id = _register(client, host, receiver.url, ["comment.held"])["webhook"]["id"]
    assert client.get(f"{HOOKS}/999999/deliveries", headers=host).status_code == 404
    assert client.post(f"{HOOKS}/999999/ping", headers=host).status_code == 404
    assert client.post(f"{HOOKS}/{webhook_id}/deliveries/999999/retry", headers=host).status_code == 404
    assert client.patch(f"{HOOKS}/999999", headers=host, json={"active": False}).status_code == 404


def test_public_addresses_pass_the_check():
    assert safehttp._is_public("93.184.215.14") and safehttp._is_public("2606:4700::1111")
    assert safehttp._is_public("64:ff9b::5db8:d70e")  # NAT64 of a public address


def test_a_secret_rotation_signs_with_both_secrets_for_a_while(app, client, db, site, host, receiver):
    from comments.models import Webhook
    from comments.services.webhooks.signing import verify

    created = _register(client, host, receiver.url, ["comment.held"])
    old_secret, webhook_id = created["secret"], created["webhook"]["id"]
    rotated = client.post(f"{HOOKS}/{webhook_id}/secret", headers=host)
    assert rotated.status_code == 200
    new_secret = rotated.json["secret"]
    assert new_secret != old_secret and rotated.json["webhook"]["previous_secret_valid_until"]
    client.post(f"{HOOKS}/{webhook_id}/ping", headers=host)
    drain(app)
    request = receiver.requests[-1]
    assert request["headers"]["X-Comments-Signature"].count("v1=") == 2
    for secret in (old_secret, new_secret):  # a receiver with either secret accepts it
        assert receiver_verifies(secret, request["headers"], request["body"])
        assert verify(
            secret,
            request["headers"]["X-Comments-Timestamp"],
            request["headers"]["X-Comments-Signature"],
            request["body"],
        )
    # once the overlap is over, only the new secret signs
    db.session.query(Webhook).update({"previous_secret_until": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    client.post(f"{HOOKS}/{webhook_id}/ping", headers=host)
    drain(app)
    request = receiver.requests[-1]
    assert receiver_verifies(new_secret, request["headers"], request["body"])
    assert not receiver_verifies(old_secret, request["headers"], request["body"])
    assert client.post(f"{HOOKS}/999999/secret", headers=host).status_code == 404


def test_webhook_changes_are_left_to_their_owner_to_commit(db, site, receiver):
    from comments.services.audit import Actor
    from comments.services.webhooks.registration import create_webhook, list_webhooks

    create_webhook(site, receiver.url, ["comment.held"], "", Actor("host", "test"))
    assert len(list_webhooks(site)) == 1
    db.session.rollback()  # the request that created it failed later
    assert list_webhooks(site) == []

"""Bounded replies in thread reads, and GET /comments/{id}/replies for the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comments.models import Comment, utcnow
from comments.services import threads
from tests.helpers import set_settings

SHOWN, PER_TOP = threads.REPLIES_SHOWN, threads.REPLIES_PER_TOP


def _replies(api, comment_id: int, **params):
    return api.client.get(f"/api/v1/comments/{comment_id}/replies", query_string=params)


def _post(api, body: str, parent_id: int | None = None, **extra) -> int:
    response = api.post(body, body.split()[0], parent_id=parent_id, **extra)
    assert response.status_code == 201, response.json
    return response.json["comment"]["id"]


def _flatten(nodes) -> list[dict]:
    found = []
    for node in nodes:
        found.append(node)
        found += _flatten(node["replies"])
    return found


def _complete(api, node: dict) -> list[dict]:
    """Every reply under ``node``: what it carries, and what its cursors (at every level) fetch."""
    found = []
    cursor = node["replies_next_cursor"]
    children = list(node["replies"])
    while cursor is not None:
        page = _replies(api, node["id"], cursor=cursor, limit=4)
        assert page.status_code == 200, page.json
        children += page.json["comments"]
        cursor = page.json["next_cursor"]
    for child in children:
        assert child["parent_id"] == node["id"]
        found.append(child)
        found += _complete(api, child)
    return found


def _carried_under_roots(page: dict) -> int:
    return sum(len(_flatten(root["replies"])) for root in page["comments"])


def test_a_small_thread_is_carried_whole_with_null_reply_cursors(api):
    root = _post(api, "root")
    reply = _post(api, "reply", root)
    _post(api, "answer", reply)
    page = api.read().json
    assert [n["body"] for n in _flatten(page["comments"])] == ["root", "reply", "answer"]
    assert all(n["replies_next_cursor"] is None for n in _flatten(page["comments"]))
    assert page["comments"][0]["reply_count"] == 1


def test_a_root_with_many_replies_carries_the_first_and_a_cursor_for_the_rest(api):
    root = _post(api, "root")
    replies = [_post(api, f"r{i} direct", root) for i in range(25)]
    page = api.read().json
    carried = page["comments"][0]
    assert [n["id"] for n in carried["replies"]] == replies[:SHOWN]
    assert carried["reply_count"] == 25  # the contract's meaning: every published direct reply
    assert carried["replies_next_cursor"] is not None

    first = _replies(api, root, cursor=carried["replies_next_cursor"], limit=10).json
    assert [n["id"] for n in first["comments"]] == replies[SHOWN : SHOWN + 10]
    rest = _replies(api, root, cursor=first["next_cursor"], limit=50).json
    assert [n["id"] for n in rest["comments"]] == replies[SHOWN + 10 :]
    assert rest["next_cursor"] is None
    # Without a cursor the page starts at the first reply; the default page is 10.
    assert [n["id"] for n in _replies(api, root).json["comments"]] == replies[: threads.REPLY_PAGE_DEFAULT]


def test_nested_replies_are_bounded_per_root_and_every_level_pages_to_the_end(api):
    root = _post(api, "root")
    expected = []
    for i in range(5):
        child = _post(api, f"c{i} child", root)
        expected.append(child)
        for j in range(4):
            grandchild = _post(api, f"g{i}.{j} grandchild", child)
            expected.append(grandchild)
            if j == 0:
                expected += [_post(api, f"d{i}.{k} deep", grandchild) for k in range(5)]
    page = api.read().json
    top = page["comments"][0]
    carried = _flatten(top["replies"])
    assert len(carried) == PER_TOP
    assert all(len(n["replies"]) <= SHOWN for n in [top] + carried)
    # Breadth first, in reading order: the root's first three replies, then theirs.
    assert [n["body"] for n in top["replies"]] == ["c0 child", "c1 child", "c2 child"]
    walked = [n["id"] for n in _complete(api, top)]
    assert sorted(walked) == sorted(expected)
    assert len(walked) == len(set(walked))


def test_a_page_of_roots_stays_within_its_bound(api):
    for i in range(6):
        root = _post(api, f"root{i} root")
        for j in range(12):
            _post(api, f"r{i}.{j} reply", root)
    page = api.read(limit=4).json
    assert len(page["comments"]) == 4
    assert _carried_under_roots(page) <= 4 * PER_TOP
    assert all(len(root["replies"]) == SHOWN and root["replies_next_cursor"] for root in page["comments"])


def test_reply_pages_show_what_readers_see_tombstones_included(api, site, db):
    root = _post(api, "root")
    kept = _post(api, "kept reply", root)
    gone = api.post("gone reply", "Gone", parent_id=root).json
    lonely = api.post("lonely deleted", "Lonely", parent_id=root).json
    _post(api, "answer under the gone one", gone["comment"]["id"])
    for posted in (gone, lonely):
        api.client.delete(f"/api/v1/comments/{posted['comment']['id']}", headers={"X-Edit-Token": posted["edit_token"]})
    set_settings(site, premoderation="all")
    held = api.post("held reply", "Held", parent_id=root)
    assert held.status_code == 202
    set_settings(site, premoderation="none")
    after = [_post(api, f"after{i} reply", root) for i in range(3)]

    thread_replies = api.read().json["comments"][0]
    walked = _complete(api, thread_replies)
    bodies = [n["body"] for n in walked]
    assert "held reply" not in bodies and "lonely deleted" not in bodies
    tombstones = [n for n in walked if n["status"] == "deleted"]
    assert [t["id"] for t in tombstones] == [gone["comment"]["id"]]
    assert tombstones[0]["body"] is None and tombstones[0]["author_name"] is None
    assert tombstones[0]["replies"][0]["body"] == "answer under the gone one"
    direct = [n["id"] for n in walked if n["parent_id"] == root]
    assert direct == [kept, gone["comment"]["id"], *after]
    # A comment whose only reply was deleted still shows that tombstone when it was answered.
    kept_reply = api.post("reply to kept, then deleted", "Kim", parent_id=kept).json
    _post(api, "answer under the deleted reply to kept", kept_reply["comment"]["id"])
    api.client.delete(
        f"/api/v1/comments/{kept_reply['comment']['id']}", headers={"X-Edit-Token": kept_reply["edit_token"]}
    )
    under_kept = _replies(api, root).json["comments"][0]
    assert under_kept["id"] == kept and under_kept["reply_count"] == 0
    assert [n["status"] for n in under_kept["replies"]] == ["deleted"]
    assert under_kept["replies"][0]["replies"][0]["body"] == "answer under the deleted reply to kept"
    # The replies of a tombstone are readable; those of a deleted comment without any are not.
    assert _replies(api, gone["comment"]["id"]).json["comments"][0]["body"] == "answer under the gone one"
    assert _replies(api, lonely["comment"]["id"]).status_code == 404


def test_the_replies_of_a_comment_readers_cannot_see_are_not_found(api, site, moderator, db):
    from comments.services.review import decisions

    set_settings(site, premoderation="all")
    held_root = api.post("held root", "Held")
    assert held_root.status_code == 202
    held_id = held_root.json["comment"]["id"]
    response = _replies(api, held_id)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "comment_not_found"
    # Published, then its root is taken back: everything under it goes with it.
    set_settings(site, premoderation="none")
    root = _post(api, "root")
    reply = _post(api, "reply", root)
    _post(api, "answer", reply)
    assert _replies(api, reply).status_code == 200
    version = db.session.get(Comment, root).version
    decisions.decide(moderator, root, "reject", expected_version=version)
    db.session.commit()
    assert _replies(api, root).status_code == 404
    assert _replies(api, reply).status_code == 404


def test_an_unknown_comment_is_404(api):
    response = _replies(api, 987654)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "comment_not_found"


@pytest.mark.parametrize(
    "params,field",
    [
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "eyJ4IjoxfQ"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": threads.REPLY_PAGE_MAX + 1}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"sort": "top"}, "sort"),
    ],
)
def test_bad_reply_page_parameters_are_422(api, params, field):
    root = _post(api, "root")
    response = _replies(api, root, **params)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_a_thread_cursor_is_not_a_replies_cursor(api):
    roots = [_post(api, f"root{i} root") for i in range(3)]
    for i in range(5):
        _post(api, f"r{i} reply", roots[0])
    thread_cursor = api.read(limit=1).json["next_cursor"]
    response = _replies(api, roots[0], cursor=thread_cursor)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_cursor"
    replies_cursor = api.read(limit=1).json["comments"][0]["replies_next_cursor"]
    assert api.read(cursor=replies_cursor).status_code == 422


@pytest.mark.parametrize("sort", ["oldest", "newest", "top"])
def test_every_sort_bounds_replies_and_keeps_them_in_reading_order(api, db, sort):
    roots = {}
    for name, count in (("quiet", 1), ("busy", 8), ("middle", 4)):
        roots[name] = _post(api, f"{name} root")
        for i in range(count):
            _post(api, f"{name}{i} reply", roots[name])
    now = utcnow()
    for minutes, name in enumerate(("middle", "busy", "quiet")):  # roots: quiet oldest
        db.session.query(Comment).filter_by(id=roots[name]).update({"created_at": now - timedelta(hours=minutes + 1)})
    db.session.commit()
    page = api.read(sort=sort).json
    order = {
        "oldest": ["quiet", "busy", "middle"],
        "newest": ["middle", "busy", "quiet"],
        "top": ["busy", "middle", "quiet"],
    }[sort]
    assert [n["body"].split()[0] for n in page["comments"]] == order
    for node in page["comments"]:
        name = node["body"].split()[0]
        assert [r["body"] for r in node["replies"]] == [
            f"{name}{i} reply" for i in range(min(SHOWN, len(node["replies"])))
        ]
        assert (node["replies_next_cursor"] is not None) == (node["reply_count"] > SHOWN)


def test_replies_past_the_depth_cap_name_whom_they_answer_on_later_pages(api, site):
    set_settings(site, max_depth=2)
    root = _post(api, "root")
    first = _post(api, "first reply", root)
    for i in range(5):
        api.post(f"answer{i} to first", f"Answerer{i}", parent_id=first)
    page = _replies(api, root, cursor=api.read().json["comments"][0]["replies_next_cursor"]).json
    answers = [n for n in page["comments"] if n["body"].startswith("answer")]
    assert answers and all(n["reply_to"] == {"id": first, "author_name": "first"} for n in answers)


def test_reply_pages_answer_304_until_the_thread_changes_and_new_replies_show(api):
    root = _post(api, "root")
    for i in range(5):
        _post(api, f"r{i} reply", root)
    cursor = api.read().json["comments"][0]["replies_next_cursor"]
    url = f"/api/v1/comments/{root}/replies"
    first = api.client.get(url, query_string={"cursor": cursor})
    assert first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    assert [n["body"] for n in first.json["comments"]] == ["r3 reply", "r4 reply"]
    again = api.client.get(url, query_string={"cursor": cursor}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    _post(api, "r5 reply", root)
    changed = api.client.get(url, query_string={"cursor": cursor}, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert [n["body"] for n in changed.json["comments"]] == ["r3 reply", "r4 reply", "r5 reply"]


def test_reply_pages_follow_the_sites_origins(api, client):
    root = _post(api, "root")
    url = f"/api/v1/comments/{root}/replies"
    allowed = client.get(url, headers={"Origin": "https://news.example"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://news.example"
    refused = client.get(url, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "origin_not_allowed"


def test_reply_pages_draw_on_the_readers_budget(app, api, client):
    root = _post(api, "root")
    app.config["RATELIMIT_READ"] = "2 per minute"
    try:
        statuses = [api.read().status_code] + [
            client.get(f"/api/v1/comments/{root}/replies").status_code for _ in range(2)
        ]
    finally:
        app.config["RATELIMIT_READ"] = "1000 per minute"
    assert statuses == [200, 200, 429]


def test_openapi_documents_the_replies_endpoint_and_fields(client):
    spec = client.get("/api/v1/openapi.json").json
    assert "/api/v1/comments/{comment_id}/replies" in spec["paths"]
    comment = spec["components"]["schemas"]["Comment"]["properties"]
    assert "replies_next_cursor" in comment

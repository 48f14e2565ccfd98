"""GET thread comments: tree shapes, sorts, cursor pagination, depth cap, ETags, counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comments.models import Comment, utcnow
from tests.helpers import set_settings


def _post_tree(api, shape: dict, parent_id=None, prefix="c") -> dict[str, int]:
    """Post a nested dict of names; returns name -> id."""
    ids = {}
    for name, children in shape.items():
        response = api.post(f"body of {prefix}{name}", name, parent_id=parent_id)
        assert response.status_code == 201, response.json
        ids[name] = response.json["comment"]["id"]
        ids.update(_post_tree(api, children, ids[name], prefix))
    return ids


def _names(nodes):
    return [(n["author_name"], _names(n["replies"])) for n in nodes]


def test_unknown_thread_reads_as_empty(api):
    response = api.read("never-commented")
    assert response.status_code == 200
    assert response.json == {
        "thread": {"key": "never-commented", "title": "", "url": "", "closed": False, "comment_count": 0},
        "comments": [],
        "next_cursor": None,
    }


def test_tree_shapes_are_nested_in_reply_order(api):
    _post_tree(api, {"a": {"a1": {"a1x": {}}, "a2": {}}, "b": {}, "c": {"c1": {}}})
    assert _names(api.read().json["comments"]) == [
        ("a", [("a1", [("a1x", [])]), ("a2", [])]),
        ("b", []),
        ("c", [("c1", [])]),
    ]
    counts = {n["author_name"]: n["reply_count"] for n in api.read().json["comments"]}
    assert counts == {"a": 2, "b": 0, "c": 1}


def test_only_published_comments_are_shown(api, site, db):
    _post_tree(api, {"a": {}})
    set_settings(site, premoderation="all")
    held = api.post("waiting", "held-one")
    assert held.status_code == 202
    assert [n["author_name"] for n in api.read().json["comments"]] == ["a"]
    assert api.read().json["thread"]["comment_count"] == 1


def test_depth_is_capped_and_deep_replies_say_whom_they_answer(api, site):
    set_settings(site, max_depth=3)
    ids = _post_tree(api, {"d0": {"d1": {"d2": {}}}})
    deeper = api.post("even deeper", "d3", parent_id=ids["d2"]).json["comment"]
    # d2 is at the deepest level (depth 2 of 0..2), so d3 attaches beside it under d1.
    assert deeper["parent_id"] == ids["d1"]
    d1 = api.read().json["comments"][0]["replies"][0]
    assert [r["author_name"] for r in d1["replies"]] == ["d2", "d3"]
    assert d1["replies"][1]["reply_to"] == {"id": ids["d2"], "author_name": "d2"}
    assert "reply_to" not in d1["replies"][0]


def test_default_depth_cap_is_six_levels(api):
    parent = None
    for level in range(8):
        parent = api.post(f"level {level}", f"L{level}", parent_id=parent).json["comment"]["id"]
    node, depth = api.read().json["comments"][0], 1
    while node["replies"]:
        node = node["replies"][-1]
        depth += 1
    assert depth == 6


def _backdate(db, minutes_by_name):
    now = utcnow()
    for name, minutes in minutes_by_name.items():
        db.session.query(Comment).filter_by(author_name=name).update({"created_at": now - timedelta(minutes=minutes)})
    db.session.commit()


def test_sorts(api, db):
    _post_tree(api, {"old": {"r1": {}}, "middle": {"r2": {}, "r3": {}}, "new": {}})
    _backdate(db, {"old": 30, "middle": 20, "new": 10, "r1": 5, "r2": 4, "r3": 3})
    order = lambda sort: [n["author_name"] for n in api.read(sort=sort).json["comments"]]  # noqa: E731
    assert order("oldest") == ["old", "middle", "new"]
    assert order("newest") == ["new", "middle", "old"]
    assert order("top") == ["middle", "old", "new"]


@pytest.mark.parametrize("sort", ["oldest", "newest", "top"])
def test_cursor_pagination_walks_every_root_once(api, db, sort):
    for i in range(7):
        root = api.post(f"root {i}", f"root{i}").json["comment"]["id"]
        for j in range(i % 3):
            api.post(f"reply {i}.{j}", f"reply{i}.{j}", parent_id=root)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"sort": sort, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api.read(**params).json
        pages += 1
        assert len(page["comments"]) <= 3
        seen += [n["author_name"] for n in page["comments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(f"root{i}" for i in range(7))
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "params,field",
    [
        ({"sort": "best"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "eyJ4IjoxfQ"}, "cursor"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_read_parameters_are_422(api, params, field):
    api.post()
    response = api.read(**params)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_a_cursor_from_another_sort_is_refused(api):
    for i in range(3):
        api.post(f"c{i}", f"a{i}")
    cursor = api.read(limit=1).json["next_cursor"]
    assert api.read(limit=1, cursor=cursor).status_code == 200
    assert api.read(limit=1, sort="top", cursor=cursor).status_code == 422


def test_etag_answers_304_until_the_thread_changes(api):
    api.post("first")
    first = api.read()
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = api.client.get(api.thread_url(), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    api.post("second", "Bob")
    changed = api.client.get(api.thread_url(), headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert len(changed.json["comments"]) == 2
    # Different page parameters are different representations.
    assert api.read(sort="newest").headers["ETag"] != changed.headers["ETag"]


def test_a_held_comment_leaves_the_etag_alone_until_it_is_published(api, site, moderator):
    from comments.services.review import decisions

    api.post("first")
    etag = api.read().headers["ETag"]
    set_settings(site, premoderation="all")
    held = api.post("waits for a moderator", "Bob")
    assert held.status_code == 202
    assert api.client.get(api.thread_url(), headers={"If-None-Match": etag}).status_code == 304
    decisions.decide(moderator, held.json["comment"]["id"], "approve")
    from comments.extensions import db

    db.session.commit()
    changed = api.client.get(api.thread_url(), headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert [c["body"] for c in changed.json["comments"]] == ["first", "waits for a moderator"]


def test_deleted_comments_with_replies_are_tombstones(api):
    root = api.post("to be deleted", "Ann")
    token = root.json["edit_token"]
    root_id = root.json["comment"]["id"]
    api.post("a reply", "Bob", parent_id=root_id)
    lonely = api.post("no replies", "Cat")
    assert api.client.delete(f"/api/v1/comments/{root_id}", headers={"X-Edit-Token": token}).status_code == 204
    api.client.delete(
        f"/api/v1/comments/{lonely.json['comment']['id']}", headers={"X-Edit-Token": lonely.json["edit_token"]}
    )
    comments = api.read().json["comments"]
    assert len(comments) == 1
    tombstone = comments[0]
    assert tombstone["status"] == "deleted"
    assert tombstone["author_name"] is None and tombstone["body"] is None and tombstone["body_html"] is None
    assert tombstone["replies"][0]["body"] == "a reply"


def test_counts_for_many_threads_in_one_call(api, client):
    api.post("a", key="one")
    api.post("b", "Bob", key="one")
    api.post("c", key="two")
    response = client.get("/api/v1/sites/news/counts", query_string={"keys": "one,two,three"})
    assert response.json == {"counts": {"one": 2, "two": 1, "three": 0}}


def test_counts_refuse_too_many_or_missing_keys(client, site):
    keys = ",".join(f"k{i}" for i in range(101))
    assert client.get("/api/v1/sites/news/counts", query_string={"keys": keys}).status_code == 422
    assert client.get("/api/v1/sites/news/counts").status_code == 422
    assert client.get("/api/v1/sites/nope/counts?keys=a").status_code == 404


def test_reading_an_unknown_site_is_404(client, db):
    response = client.get("/api/v1/sites/nope/threads/a/comments")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "site_not_found"


def test_rendered_pages_are_cached_until_the_thread_changes(app, api, db):
    cache = app.extensions["comments.page_cache"]
    cache.clear()
    api.post("first")
    first = api.read()
    assert cache.get(first.headers["ETag"].strip('"')) == first.data
    assert api.read().data == first.data  # served from the cache
    comment_id = api.post("second", "Bob").json["comment"]["id"]
    assert len(api.read().json["comments"]) == 2  # a new revision, a new key
    # A change that is not a new comment (an edit) also moves the thread to a new revision.
    token = api.post("third", "Cat").json["edit_token"]
    third_id = api.read().json["comments"][-1]["id"]
    api.client.patch(f"/api/v1/comments/{third_id}", json={"body": "third, edited"}, headers={"X-Edit-Token": token})
    assert api.read().json["comments"][-1]["body"] == "third, edited"
    assert comment_id


def test_the_page_cache_is_bounded():
    from comments.api.cache import PageCache

    cache = PageCache(max_bytes=1000)
    for i in range(20):
        cache.put(f"k{i}", b"x" * 200)
    assert cache.get("k0") is None and cache.get("k19") == b"x" * 200
    cache.put("huge", b"x" * 600)  # over a quarter of the budget: not cached
    assert cache.get("huge") is None

"""Importing Disqus and WordPress exports: threading, authors, dates, statuses, twice, broken files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from comments.models import AuditEvent, Comment, Status, Thread
from comments.security import hash_email, hash_ip
from comments.services import importers
from comments.services.importers import ImportFailed, disqus
from comments.services.importers.html import to_markdown
from comments.services.importers.source import SkippedItem, SourceComment

DATA = Path(__file__).resolve().parent.parent / "data"


def _import(app, *args):
    return app.test_cli_runner().invoke(args=["comments", "import", *map(str, args)])


def _by_ref(db):
    return {c.import_ref: c for c in db.session.query(Comment).all()}


def test_disqus_import_keeps_threading_authors_dates_and_statuses(app, db, api, site):
    result = _import(app, "news", DATA / "disqus_sample.xml")
    assert result.exit_code == 0, result.output
    assert "Format: disqus." in result.output
    assert "Imported 6 comments (1 deleted, 4 published, 1 rejected) into 2 threads (2 new)." in result.output
    assert "disqus thread 2003: deleted in Disqus" in result.output
    comments = _by_ref(db)
    ann, bo, cara = comments["disqus:3001"], comments["disqus:3002"], comments["disqus:3004"]
    assert ann.parent_id is None and bo.parent_id == ann.id and cara.parent_id == bo.id
    assert cara.root_id == ann.id and cara.depth == 2
    assert ann.author_name == "Ann" and ann.author_email_hash == hash_email("ann@example.org")
    assert ann.ip_hash == hash_ip("203.0.113.10")
    assert ann.created_at == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert ann.body == "The **deficit** numbers look *off*.\n\nSee [the figures](https://stats.example/deficit)."
    assert '<a href="https://stats.example/deficit"' in ann.body_html and "<strong>deficit</strong>" in ann.body_html
    assert comments["disqus:3003"].status == "rejected"
    tomb = comments["disqus:3005"]
    assert tomb.status == "deleted" and tomb.body == "" and tomb.author_name == ""
    assert comments["disqus:3006"].parent_id == tomb.id
    budget = db.session.query(Thread).filter_by(key="politics/2024/budget").one()
    assert budget.title == "The 2024 budget" and budget.published_count == 3 and not budget.closed
    final = db.session.query(Thread).filter_by(key="https://daily.example/sport/final").one()  # no identifier
    assert final.closed and final.published_count == 1
    assert ann.reply_count == 1 and bo.reply_count == 1
    # readers see the imported tree, the deleted one as a tombstone
    page = api.read("politics/2024/budget").json
    assert [c["author_name"] for c in page["comments"]] == ["Ann"]
    assert page["comments"][0]["replies"][0]["replies"][0]["author_name"] == "Cara"
    assert page["comments"][0]["created_at"] == "2024-03-01T09:15:00.000Z"
    events = db.session.query(AuditEvent).filter_by(action="imported").count()
    assert events == 6
    # Every imported comment has its author as a person, with the time of their first comment.
    assert all(c.author_id is not None for c in comments.values())
    assert ann.author.name == "Ann" and ann.author.email_hash == hash_email("ann@example.org")
    assert ann.author.first_seen_at == datetime(2024, 3, 1, 9, 15, tzinfo=UTC) and not ann.author.verified


def test_importing_twice_adds_nothing(app, db, site):
    assert _import(app, "news", DATA / "disqus_sample.xml").exit_code == 0
    before = db.session.query(Comment).count()
    again = _import(app, "news", DATA / "disqus_sample.xml")
    assert again.exit_code == 0, again.output
    assert "Imported 0 comments" in again.output and "Already imported before (left as they are): 6." in again.output
    assert db.session.query(Comment).count() == before
    assert db.session.query(Thread).filter_by(key="politics/2024/budget").one().published_count == 3


def test_wxr_import(app, db, site):
    result = _import(app, "news", DATA / "wxr_sample.xml")
    assert result.exit_code == 0, result.output
    assert "Format: wxr." in result.output
    assert "Imported 5 comments (1 held, 3 published, 1 rejected) into 2 threads (2 new)." in result.output
    assert "wxr:14: a pingback, not a comment" in result.output
    comments = _by_ref(db)
    first, bo, reply = comments["wxr:11"], comments["wxr:12"], comments["wxr:13"]
    assert bo.parent_id == first.id and reply.parent_id == bo.id and reply.depth == 2
    assert first.created_at == datetime(2023, 5, 1, 9, 0, tzinfo=UTC)  # the GMT date, not the local one
    assert first.body == "First!\n\nA second paragraph  \nwith a line break and **bold** words."
    assert "<br" in first.body_html
    assert comments["wxr:15"].status == "rejected" and comments["wxr:21"].status == "held"
    hello = db.session.query(Thread).filter_by(key="1").one()
    assert hello.url == "https://blog.example/2023/hello-world/" and hello.published_count == 3
    assert db.session.query(Thread).filter_by(key="2").one().closed
    assert "Already imported before (left as they are): 5." in _import(app, "news", DATA / "wxr_sample.xml").output


def test_thread_keys_from_urls(app, db, site):
    result = _import(app, "news", DATA / "wxr_sample.xml", "--key-from", "url")
    assert result.exit_code == 0
    assert db.session.query(Thread).filter_by(key="https://blog.example/2023/hello-world/").count() == 1


def test_dry_run_changes_nothing(app, db, site):
    result = _import(app, "news", DATA / "disqus_sample.xml", "--dry-run")
    assert result.exit_code == 0 and "Imported 6 comments" in result.output and "Dry run" in result.output
    assert db.session.query(Comment).count() == 0


def test_an_existing_threads_host_values_win(app, db, site):
    db.session.add(Thread(site_id=site.id, key="politics/2024/budget", title="Our own title", url=""))
    db.session.commit()
    _import(app, "news", DATA / "disqus_sample.xml")
    thread = db.session.query(Thread).filter_by(key="politics/2024/budget").one()
    assert thread.title == "Our own title" and thread.url == "https://daily.example/politics/2024/budget"


@pytest.mark.parametrize(
    "name, message",
    [
        ("broken_truncated.xml", "is not well-formed XML"),
        ("billion_laughs.xml", "contains a DOCTYPE declaration"),
        ("external_entity.xml", "contains a DOCTYPE declaration"),
        ("not_comments.xml", "neither a Disqus export"),
        ("missing.xml", "is not a file"),
    ],
)
def test_broken_files_give_a_clear_error_and_import_nothing(app, db, site, name, message):
    result = _import(app, "news", DATA / name)
    assert result.exit_code != 0
    assert "Nothing was imported." in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    assert db.session.query(Comment).count() == 0


def test_format_mismatch_and_unknown_site(app, db, site):
    wrong = _import(app, "news", DATA / "wxr_sample.xml", "--format", "disqus")
    assert wrong.exit_code != 0 and "looks like a wxr file" in wrong.output
    assert _import(app, "nope", DATA / "wxr_sample.xml").exit_code != 0


def test_overlong_comments_are_skipped_not_truncated(app, db, site, tmp_path):
    big = "x" * 10_001
    path = tmp_path / "big.xml"
    path.write_text(
        (DATA / "disqus_bad_date.xml")
        .read_text()
        .replace("last tuesday", "2024-01-01T00:00:00Z")
        .replace(">hi<", f">{big}<")
    )
    result = _import(app, "news", path)
    assert result.exit_code == 0
    assert "over the 10000 limit" in result.output and db.session.query(Comment).count() == 0


def test_html_conversion_escapes_markdown_and_drops_unsafe_links():
    assert to_markdown("<p>a *b* [c]</p>") == r"a \*b\* \[c\]"
    assert to_markdown('<a href="javascript:alert(1)">x</a>') == "x"
    assert to_markdown("<blockquote>q</blockquote><p>answer</p>") == "> q\n\nanswer"
    assert to_markdown("<ul><li>one</li><li>two</li></ul>") == "- one\n- two"


def test_replies_past_the_sites_depth_cap_attach_to_the_deepest_allowed_ancestor(app, db, site):
    from tests.helpers import set_settings

    set_settings(site, max_depth=2)
    assert _import(app, "news", DATA / "disqus_sample.xml").exit_code == 0
    comments = _by_ref(db)
    ann, bo, cara = comments["disqus:3001"], comments["disqus:3002"], comments["disqus:3004"]
    assert cara.parent_id == ann.id and cara.depth == 1 and cara.reply_to_id == bo.id


def test_files_are_streamed_element_by_element(tmp_path):
    """Each handled element leaves the tree: a large export is never held whole (only what the
    parser has read ahead of the reader, a chunk of the file, is in memory at once)."""
    from comments.services.importers.safexml import Document

    path = tmp_path / "many.xml"
    posts = "".join(f'<post dsq:id="{i}"><message>m{i}</message></post>' for i in range(20000))
    path.write_text(
        f'<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">{posts}</disqus>'
    )
    document = Document(path)
    sizes = []
    for count, _element in enumerate(document.elements(depth=1)):
        if count % 1000 == 0:
            sizes.append(len(document.root))
    assert max(sizes) < 2000 and len(document.root) == 0


# --- one bad item never refuses the whole file ----------------------------------------------------

WXR_HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel><title>Old blog</title>"""


def _wxr_comment(comment_id: str, date: str = "2020-01-01 10:00:00", email: str = "ann@example.org") -> str:
    ident = f"<wp:comment_id>{comment_id}</wp:comment_id>" if comment_id else ""
    return (
        f"<wp:comment>{ident}<wp:comment_author>Ann</wp:comment_author>"
        f"<wp:comment_author_email><![CDATA[{email}]]></wp:comment_author_email>"
        f"<wp:comment_date_gmt>{date}</wp:comment_date_gmt><wp:comment_content>Hi {comment_id}</wp:comment_content>"
        f"<wp:comment_approved>1</wp:comment_approved><wp:comment_parent>0</wp:comment_parent></wp:comment>"
    )


def _wxr_item(link: str, *comments: str, post_id: str | None = None) -> str:
    ident = f"<wp:post_id>{post_id}</wp:post_id>" if post_id else ""
    return f"<item><title>Post at {link}</title><link>{link}</link>{ident}{''.join(comments)}</item>"


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture()
def wxr_without_post_ids(tmp_path):
    return _write(
        tmp_path,
        "old.xml",
        WXR_HEAD
        + _wxr_item("https://old.example/a/", _wxr_comment("1"), _wxr_comment("2"))
        + _wxr_item("https://old.example/b/", _wxr_comment("3"), post_id="7")
        + "</channel></rss>",
    )


def test_wxr_items_without_post_ids_are_keyed_by_their_link_with_key_from_url(app, db, site, wxr_without_post_ids):
    result = _import(app, "news", wxr_without_post_ids, "--key-from", "url")
    assert result.exit_code == 0, result.output
    assert "Imported 3 comments (3 published) into 2 threads (2 new)." in result.output
    keys = {t.key: t.url for t in db.session.query(Thread)}
    assert keys == {
        "https://old.example/a/": "https://old.example/a/",
        "https://old.example/b/": "https://old.example/b/",
    }
    assert (
        "Already imported before (left as they are): 3."
        in _import(app, "news", wxr_without_post_ids, "--key-from", "url").output
    )


def test_wxr_items_without_post_ids_are_skipped_and_listed_otherwise(app, db, site, wxr_without_post_ids):
    result = _import(app, "news", wxr_without_post_ids)
    assert result.exit_code == 0, result.output
    assert "Imported 1 comments (1 published) into 1 threads (1 new)." in result.output
    assert "has no wp:post_id" in result.output and "its 2 comments are left out" in result.output
    assert [t.key for t in db.session.query(Thread)] == ["7"]


def test_wxr_comments_without_ids_or_dates_are_skipped_and_listed(app, db, site, tmp_path):
    path = _write(
        tmp_path,
        "bad.xml",
        WXR_HEAD
        + _wxr_item(
            "https://old.example/a/",
            _wxr_comment("1"),
            _wxr_comment(""),
            _wxr_comment("3", date="yesterday"),
            _wxr_comment("4", date="0000-00-00 00:00:00"),
            post_id="5",
        )
        + "</channel></rss>",
    )
    result = _import(app, "news", path)
    assert result.exit_code == 0, result.output
    assert "Imported 1 comments" in result.output and "Skipped: 3." in result.output
    assert "has no wp:comment_id" in result.output and "wxr:3: 'yesterday' is not a WordPress date" in result.output
    assert set(_by_ref(db)) == {"wxr:1"}


DISQUS_HEAD = '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'


def _disqus_post(
    ref: str | None, date: str = "2024-01-01T00:00:00Z", thread: str | None = "1", email: str = "ann@example.org"
) -> str:
    ident = f' dsq:id="{ref}"' if ref else ""
    names = f'<thread dsq:id="{thread}"/>' if thread else ""
    return (
        f"<post{ident}><message>post {ref}</message><createdAt>{date}</createdAt>{names}"
        f"<author><name>Ann</name><email>{email}</email></author></post>"
    )


def test_disqus_items_that_cannot_be_read_are_skipped_and_listed(app, db, site, tmp_path):
    path = _write(
        tmp_path,
        "bad.xml",
        DISQUS_HEAD
        + '<thread dsq:id="1"><id>a</id><link>https://x.example/a</link></thread>'
        + "<thread><id>b</id><link>https://x.example/b</link></thread>"
        + _disqus_post("10")
        + _disqus_post(None)
        + _disqus_post("12", thread=None)
        + _disqus_post("13", date="last tuesday")
        + _disqus_post("14", date="0001-01-01T00:00:00+01:00")
        + "</disqus>",
    )
    result = _import(app, "news", path)
    assert result.exit_code == 0, result.output
    assert "Imported 1 comments" in result.output and "Skipped: 5." in result.output
    for line in (
        "disqus thread 'b': has no dsq:id",
        "has no dsq:id attribute",
        "disqus:12: names no thread",
        "disqus:13: 'last tuesday' is not a date",
        "disqus:14: '0001-01-01T00:00:00+01:00' is not a date",
    ):
        assert line in result.output, line
    assert set(_by_ref(db)) == {"disqus:10"}


def test_the_bad_date_sample_imports_nothing_but_says_why(app, db, site):
    result = _import(app, "news", DATA / "disqus_bad_date.xml")
    assert result.exit_code == 0, result.output
    assert "Imported 0 comments" in result.output and "'last tuesday' is not a date" in result.output


@pytest.mark.parametrize("email", [" ann@example.org", "ann@example.org\n", "\n  Ann@Example.org \n\t"])
def test_imported_emails_are_trimmed_before_hashing(app, db, site, tmp_path, email):
    wxr = _write(
        tmp_path,
        "e.xml",
        WXR_HEAD
        + _wxr_item("https://old.example/a/", _wxr_comment("1", email=email), post_id="5")
        + "</channel></rss>",
    )
    disqus = _write(
        tmp_path,
        "e2.xml",
        DISQUS_HEAD + '<thread dsq:id="1"><id>a</id></thread>' + _disqus_post("10", email=email) + "</disqus>",
    )
    assert _import(app, "news", wxr).exit_code == 0 and _import(app, "news", disqus).exit_code == 0
    hashes = {ref: c.author_email_hash for ref, c in _by_ref(db).items()}
    assert hashes == {"wxr:1": hash_email("ann@example.org"), "disqus:10": hash_email("ann@example.org")}


def test_with_the_classifier_on_imported_published_comments_get_scores_of_their_own(
    app, db, api, site, tmp_path, classifier
):
    """Imported comments stay as readers knew them, but none stays published unscored: the sweep
    scores them and the policy holds what the site's thresholds hold."""
    from tests.helpers import score_batch

    toxic = (
        "<wp:comment><wp:comment_id>9</wp:comment_id><wp:comment_author>Troll</wp:comment_author>"
        "<wp:comment_date_gmt>2020-01-02 10:00:00</wp:comment_date_gmt><wp:comment_content>You are a "
        "stupid idiot and I will hurt you</wp:comment_content><wp:comment_approved>1</wp:comment_approved>"
        "<wp:comment_parent>0</wp:comment_parent></wp:comment>"
    )
    path = _write(
        tmp_path,
        "blog.xml",
        WXR_HEAD + _wxr_item("https://old.example/a/", _wxr_comment("1"), toxic, post_id="5") + "</channel></rss>",
    )
    app.config["SCORING_MODE"] = "inprocess"
    try:
        result = _import(app, "news", path)
    finally:
        app.config["SCORING_MODE"] = "off"
    assert result.exit_code == 0, result.output
    assert "Waiting for the classifier: 2 published comments" in result.output
    comments = _by_ref(db)
    assert {c.status for c in comments.values()} == {"published"}
    assert all(c.needs_scoring and c.scores is None for c in comments.values())
    run = score_batch(classifier, older_than_seconds=30)  # the sweep: they are years old
    assert run.scored == 2 and run.outcomes == {"published": 1, "held": 1}
    db.session.expire_all()
    statuses = {c.import_ref: (c.status, c.scores is not None) for c in _by_ref(db).values()}
    assert statuses == {"wxr:1": ("published", True), "wxr:9": ("held", True)}
    assert [c["author_name"] for c in api.read("5").json["comments"]] == ["Ann"]


def test_with_the_classifier_off_imports_are_not_marked_for_scoring(app, db, site):
    assert _import(app, "news", DATA / "wxr_sample.xml").exit_code == 0
    assert not any(c.needs_scoring for c in _by_ref(db).values())


# --- reading files, names, dates and order, as pure functions (no app, no database) -----------


def test_reading_a_disqus_export_yields_its_threads_and_comments_without_storing_anything():
    source = importers.read(DATA / "disqus_sample.xml")
    assert source.format == "disqus"
    assert {ref: (t.key, t.closed) for ref, t in source.threads.items()} == {
        "2001": ("politics/2024/budget", False),
        "2002": ("https://daily.example/sport/final", True),
    }
    by_ref = {c.ref: c for c in source.comments}
    assert by_ref["disqus:3004"].parent_ref == "disqus:3002"
    assert by_ref["disqus:3003"].status == Status.REJECTED and by_ref["disqus:3005"].status == Status.DELETED
    assert by_ref["disqus:3001"].created_at == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert source.skipped == ["disqus thread 2003: deleted in Disqus (its posts are left out)"]


def test_reading_a_wxr_export_leaves_out_pingbacks():
    source = importers.read(DATA / "wxr_sample.xml")
    assert source.format == "wxr"
    assert [c.ref for c in source.comments] == ["wxr:11", "wxr:12", "wxr:13", "wxr:15", "wxr:21"]
    assert source.skipped == ["wxr:14: a pingback, not a comment"]


def test_a_format_named_by_the_operator_must_be_the_files():
    with pytest.raises(ImportFailed, match="looks like a disqus file, not wxr"):
        importers.read(DATA / "disqus_sample.xml", "wxr")
    with pytest.raises(ImportFailed, match="neither a Disqus export"):
        importers.read(DATA / "not_comments.xml")


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("  Ann  ", "Ann"),
        ("An\u0000n\u200b\u202e", "Ann"),  # control and format characters go
        ("Cafe\u0301", "Café"),  # NFC: one code point, as names typed today are stored
        ("\t\n ", "Anonymous"),
        ("", "Anonymous"),
    ],
)
def test_clean_name(name, cleaned):
    assert importers.clean_name(name) == cleaned


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2024-03-01T09:15:00Z", datetime(2024, 3, 1, 9, 15, tzinfo=UTC)),
        (" 2024-03-01T09:15:00 ", datetime(2024, 3, 1, 9, 15, tzinfo=UTC)),  # no offset: UTC, as Disqus writes
        ("2024-03-01T11:15:00+02:00", datetime(2024, 3, 1, 9, 15, tzinfo=UTC)),
    ],
)
def test_disqus_dates_are_read_as_utc(value, moment):
    parsed = disqus.parse_date(value, "disqus:1")
    assert parsed == moment and parsed.utcoffset() == timedelta(0)


def test_a_date_that_is_not_one_skips_the_item_and_says_where():
    with pytest.raises(SkippedItem, match="disqus:7: 'last tuesday' is not a date"):
        disqus.parse_date("last tuesday", "disqus:7")


def _comment(ref: str, parent_ref: str | None, minute: int) -> SourceComment:
    return SourceComment(
        ref=ref,
        thread_ref="t",
        parent_ref=parent_ref,
        author_name="A",
        author_email=None,
        ip=None,
        created_at=datetime(2024, 1, 1, 12, minute, tzinfo=UTC),
        body="b",
        status=Status.PUBLISHED,
    )


def test_parents_come_before_their_replies_whatever_the_dates_say():
    # An export can date a reply before its parent (clock skew, edited dates): the parent goes first.
    reply = _comment("r", "p", 1)
    parent = _comment("p", None, 5)
    other = _comment("o", None, 3)
    assert [c.ref for c in importers._ordered([parent, other, reply])] == ["p", "r", "o"]


def test_ordering_ends_on_a_cycle_and_on_a_missing_parent_keeping_every_comment():
    first, second = _comment("a", "b", 1), _comment("b", "a", 2)
    orphan = _comment("c", "gone", 3)
    ordered = importers._ordered([orphan, second, first])
    assert sorted(c.ref for c in ordered) == ["a", "b", "c"]

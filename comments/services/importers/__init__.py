"""Importing comments from other systems (Disqus XML, WordPress WXR) into a site.

Each format's reader turns the file into ``Source`` threads and comments; ``run_import`` stores
them keeping threading, authors and dates. Comments remember where they came from
(``Comment.import_ref``), so importing the same file twice adds nothing. Imported comments keep
the status the old system gave them; they are not run through the rules or the classifier
(``flask comments rescore --site`` can score them afterwards).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sqlalchemy import select

from comments.extensions import db
from comments.models import Author, Comment, Site, Status, Thread
from comments.security import hash_email, hash_ip, new_nonce
from comments.services import moderation, readers, rendering
from comments.services.audit import Actor, record
from comments.services.importers.disqus import read_disqus
from comments.services.importers.safexml import Document, ImportFailed, local
from comments.services.importers.source import Source, SourceComment, SourceThread
from comments.services.importers.wxr import read_wxr
from comments.services.sites import effective_settings
from comments.services.submission import place_reply
from comments.services.threads import find_thread
from comments.services.validation import TextError, check_thread_key

__all__ = ["ImportFailed", "import_file", "Summary"]

MAX_BODY = 10_000
MAX_NAME = 64
IMPORT_ACTOR = Actor("operator", "import")


@dataclass
class Summary:
    format: str
    imported: int = 0
    already: int = 0
    threads_new: int = 0
    threads_used: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    to_score: int = 0  # published comments left for the classifier's sweep

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(self.by_status.items())) or "none"
        out = [
            f"Format: {self.format}.",
            f"Imported {self.imported} comments ({statuses}) into {self.threads_used} threads "
            f"({self.threads_new} new).",
            f"Already imported before (left as they are): {self.already}.",
            f"Skipped: {len(self.skipped)}.",
        ]
        if self.to_score:
            out.append(
                f"Waiting for the classifier: {self.to_score} published comments (the workers' sweep "
                "scores them; any the site's thresholds hold leave their thread for the review queue)."
            )
        out += [f"  skipped {line}" for line in self.skipped[:50]]
        if len(self.skipped) > 50:
            out.append(f"  … and {len(self.skipped) - 50} more")
        out += [f"  note: {line}" for line in self.warnings[:50]]
        return out


def detect(document: Document) -> str:
    name = local(document.root.tag)
    if name == "disqus":
        return "disqus"
    if name == "rss" and any("wordpress.org/export" in uri for uri in document.namespaces):
        return "wxr"
    raise ImportFailed(
        f"The file's root element is <{name}>: neither a Disqus export (<disqus>) "
        "nor a WordPress WXR file (<rss> with the wp: namespace)."
    )


def read(path: Path, fmt: str = "auto", key_from: str = "id") -> Source:
    document = Document(path)
    detected = detect(document)
    if fmt != "auto" and fmt != detected:
        raise ImportFailed(f"This looks like a {detected} file, not {fmt}.")
    if detected == "disqus":
        return read_disqus(document.elements(depth=1), key_from)
    return read_wxr(document.elements(depth=2), key_from)


def clean_name(name: str) -> str:
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip()
    return name or "Anonymous"


def _ordered(comments: list[SourceComment]) -> list[SourceComment]:
    """Parents before their replies (exports are not always in that order)."""
    by_ref = {c.ref: c for c in comments}
    done: set[str] = set()
    ordered: list[SourceComment] = []
    for comment in sorted(comments, key=lambda c: (c.created_at, c.ref)):
        chain = []
        current: SourceComment | None = comment
        while current is not None and current.ref not in done and current not in chain:
            chain.append(current)
            current = by_ref.get(current.parent_ref) if current.parent_ref else None
        for item in reversed(chain):
            done.add(item.ref)
            ordered.append(item)
    return ordered


def _thread_for(site: Site, source: SourceThread, summary: Summary, cache: dict[str, Thread]) -> Thread:
    if source.ref in cache:
        return cache[source.ref]
    thread = find_thread(site, source.key)
    if thread is None:
        thread = Thread(
            site_id=site.id, key=source.key, title=source.title[:500], url=source.url[:2000], closed=source.closed
        )
        db.session.add(thread)
        db.session.flush()
        summary.threads_new += 1
    else:
        # The host's own values win; only fill in what is missing.
        thread.title = thread.title or source.title[:500]
        thread.url = thread.url or source.url[:2000]
    cache[source.ref] = thread
    return thread


def run_import(site: Site, source: Source, *, score: bool = False) -> Summary:
    """Store ``source`` in ``site``, in one transaction (the caller commits or rolls back).

    With ``score`` (the classifier is on), published comments are marked for scoring: they stay
    as readers knew them on the old platform while the workers' sweep scores them, and the
    policy holds any that the site's thresholds would have held. No text stays published
    without scores of its own.
    """
    summary = Summary(format=source.format, skipped=list(source.skipped))
    settings = effective_settings(site)
    refs = [c.ref for c in source.comments]
    existing: dict[str, Comment] = {}
    for start in range(0, len(refs), 500):
        for row in db.session.execute(
            select(Comment).where(Comment.site_id == site.id, Comment.import_ref.in_(refs[start : start + 500]))
        ).scalars():
            existing[cast(str, row.import_ref)] = row  # found by it: never None
    threads: dict[str, Thread] = {}
    authors: dict[str, Author] = {}  # by author key, for this import
    stored: dict[str, Comment] = dict(existing)
    for item in _ordered(source.comments):
        if item.ref in existing:
            summary.already += 1
            continue
        thread_source = source.threads.get(item.thread_ref)
        if thread_source is None:
            summary.skipped.append(f"{item.ref}: its thread {item.thread_ref} is not in the file")
            continue
        try:
            check_thread_key(thread_source.key)
        except TextError as exc:
            summary.skipped.append(f"{item.ref}: thread key {thread_source.key[:60]!r} ({exc.message})")
            continue
        body = item.body
        if item.status == Status.DELETED:
            body = ""
        elif not body.strip():
            summary.skipped.append(f"{item.ref}: no text")
            continue
        elif len(body) > MAX_BODY:
            summary.skipped.append(
                f"{item.ref}: {len(body)} characters, over the {MAX_BODY} limit (comments are never truncated)"
            )
            continue
        parent = None
        if item.parent_ref:
            parent = stored.get(item.parent_ref)
            if parent is None:
                summary.warnings.append(
                    f"{item.ref}: its parent {item.parent_ref} is not in the file; imported as a root comment"
                )
            elif parent.thread_id != _thread_for(site, thread_source, summary, threads).id:
                summary.warnings.append(f"{item.ref}: its parent is in another thread; imported as a root")
                parent = None
        thread = _thread_for(site, thread_source, summary, threads)
        name = clean_name(item.author_name)
        if len(name) > MAX_NAME:
            summary.warnings.append(f"{item.ref}: author name shortened to {MAX_NAME} characters")
            name = name[: MAX_NAME - 1] + "…"
        email_hash = hash_email(item.author_email) if item.author_email else None
        ip_hash = hash_ip(item.ip) if item.ip else None
        author_key = email_hash or ip_hash or "anonymous"
        author = authors.get(author_key)
        if author is None:
            author = authors[author_key] = readers.for_anonymous(site, author_key, "", email_hash, item.created_at)
        readers.seen(author, "" if item.status == Status.DELETED else name, item.created_at)
        parent_id, root_id, depth, reply_to_id = place_reply(parent, settings["max_depth"])
        comment = Comment(
            site_id=site.id,
            thread_id=thread.id,
            parent_id=parent_id,
            root_id=root_id,
            depth=depth,
            reply_to_id=reply_to_id,
            author_name="" if item.status == Status.DELETED else name,
            author_email_hash=email_hash,
            author_key=author_key,
            author_id=author.id,
            ip_hash=ip_hash,
            body=body,
            body_html=rendering.render(body) if body else "",
            body_fingerprint=rendering.fingerprint(body) if body else "",
            status=Status.PENDING.value,
            reasons=[],
            edit_nonce=new_nonce(),
            created_at=item.created_at,
            import_ref=item.ref[:100],
            needs_scoring=score and item.status == Status.PUBLISHED,
        )
        db.session.add(comment)
        db.session.flush()
        moderation.change_status(
            comment,
            item.status,
            IMPORT_ACTOR,
            "imported",
            reasons=[{"kind": "import", "code": "imported", "source": source.format, "ref": item.ref}],
        )
        stored[item.ref] = comment
        summary.imported += 1
        summary.by_status[item.status.value] = summary.by_status.get(item.status.value, 0) + 1
        summary.to_score += int(comment.needs_scoring)
    summary.threads_used = len(threads)
    record(
        "comments_imported",
        IMPORT_ACTOR,
        site_id=site.id,
        reasons=[
            {
                "kind": "import",
                "format": source.format,
                "imported": summary.imported,
                "already": summary.already,
                "skipped": len(summary.skipped),
            }
        ],
    )
    return summary


def import_file(site: Site, path: Path, fmt: str = "auto", key_from: str = "id", score: bool = False) -> Summary:
    """Read the file and import it in the caller's transaction: the command commits the whole
    import at once (all or nothing), or rolls it back for a dry run."""
    return run_import(site, read(path, fmt, key_from), score=score)

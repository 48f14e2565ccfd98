"""What a format's reader makes of a file: threads and comments in the source system's terms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from comments.models import Status


@dataclass
class SourceThread:
    ref: str
    key: str
    title: str = ""
    url: str = ""
    closed: bool = False


@dataclass
class SourceComment:
    ref: str  # unique in the source system, e.g. "disqus:123"
    thread_ref: str
    parent_ref: str | None
    author_name: str
    author_email: str | None
    ip: str | None
    created_at: datetime
    body: str  # Markdown
    status: Status


class SkippedItem(Exception):
    """One element of a file that cannot be imported: it is left out and listed in the summary,
    never a reason to refuse the whole file (``ImportFailed`` is for the file itself)."""


@dataclass
class Source:
    format: str
    threads: dict[str, SourceThread] = field(default_factory=dict)
    comments: list[SourceComment] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what the reader left out, and why

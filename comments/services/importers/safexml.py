"""Reading export files as XML without the XML features attackers use.

A DTD can define entities that expand to gigabytes (billion laughs) or pull in local files
(external entities). Comment exports never need one, so any DOCTYPE or entity declaration is
refused by a first pass with expat before ElementTree builds the tree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, cast
from xml.parsers import expat


class ImportFailed(Exception):
    """The file cannot be imported; the message says why, for the operator."""


class _Refused(Exception):
    pass


def _refuse(what: str) -> Callable[..., NoReturn]:
    def handler(*_args: object) -> NoReturn:
        raise _Refused(what)

    return handler


def _check_no_dtd(path: Path) -> None:
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = _refuse("an entity declaration")
    parser.ExternalEntityRefHandler = _refuse("an external entity")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 16):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Refused as exc:
        raise ImportFailed(f"{path.name} contains {exc}, which exports never need; refusing to read it.") from None
    except expat.ExpatError as exc:
        raise ImportFailed(
            f"{path.name} is not well-formed XML: {expat.ErrorString(exc.code)} "
            f"at line {exc.lineno}, column {exc.offset + 1}."
        ) from None


class Document:
    """A checked file read as a stream: its root element and namespaces, then the elements at
    one depth (Disqus: children of the root; WXR: items of the channel), each dropped from the
    tree once handled, so a large export never sits in memory whole."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise ImportFailed(f"{path} is not a file.")
        _check_no_dtd(path)
        self.path = path
        self.namespaces: set[str] = set()
        self._events = ET.iterparse(path, events=("start-ns", "start", "end"))
        self._stack: list[ET.Element] = []
        self.root = self._first_element()

    def _first_element(self) -> ET.Element:
        for event, item in self._next_events():
            if event == "start-ns":
                self.namespaces.add(item[1])
            elif event == "start":
                self._stack.append(item)
                return cast(ET.Element, item)  # a "start" event's item
        raise ImportFailed(f"{self.path.name} has no root element.")

    def _next_events(self) -> Iterator[tuple[str, Any]]:
        try:
            yield from self._events
        except ET.ParseError as exc:  # the first pass catches these; say it the same way
            line, column = exc.position
            raise ImportFailed(
                f"{self.path.name} is not well-formed XML at line {line}, column {column + 1}."
            ) from None

    def elements(self, depth: int) -> Iterator[ET.Element]:
        """Every element that closes ``depth`` levels below the root (1: the root's children)."""
        for event, item in self._next_events():
            if event == "start-ns":
                self.namespaces.add(item[1])
            elif event == "start":
                self._stack.append(item)
            else:
                self._stack.pop()
                if len(self._stack) == depth:
                    yield item
                    self._stack[-1].remove(item)  # handled: let it go


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def child(element: ET.Element, name: str) -> ET.Element | None:
    for item in element:
        if local(item.tag) == name:
            return item
    return None


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [item for item in element if local(item.tag) == name]


def text(element: ET.Element, name: str, default: str = "") -> str:
    found = child(element, name)
    return (found.text or "").strip() if found is not None and found.text is not None else default


def attribute(element: ET.Element | None, name: str) -> str | None:
    """An attribute by local name (Disqus puts dsq:id in its own namespace)."""
    if element is None:
        return None
    for key, value in element.attrib.items():
        if local(key) == name:
            return value
    return None

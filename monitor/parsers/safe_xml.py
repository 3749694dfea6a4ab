"""A small XML tree read with expat, refusing what makes XML dangerous to read.

Device reports are read from files anyone may hand to the monitor, so the parser refuses an
inline DTD (an internal subset: where entity declarations, and so the "billion laughs" expansion
and external-entity reads, live), every entity declaration, and external entities; it never
fetches a DTD (parameter entities are not parsed). A document's `<!DOCTYPE x SYSTEM "x.dtd">`
naming an external DTD, as `nvidia-smi -q -x` prints it, is allowed: it is not read. The number
of elements is bounded too. The same rules as defusedxml's, without the dependency.

A document cut short (a report still being written, a truncated copy) keeps the elements that
were closed before the cut: `Element.closed` says which.

Deliberately not here: what the elements mean.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from xml.parsers import expat

MAX_ELEMENTS = 1_000_000
"""A report of 8 GPUs has a few thousand elements; more than this is not a report."""


class XmlRefused(ValueError):
    """The document is not well-formed, or uses what this reader refuses; the message says which."""


@dataclasses.dataclass(slots=True, eq=False)
class Element:
    """One element: its tag, attributes, text (stripped), children and the line it starts on."""

    tag: str
    attrs: dict[str, str]
    line: int
    text: str = ""
    children: list[Element] = dataclasses.field(default_factory=list)
    closed: bool = False

    def find(self, path: str) -> Element | None:
        """The first element at `path` (child tags joined by `/`) below this one, or None."""
        node: Element | None = self
        for tag in path.split("/"):
            assert node is not None
            node = next((child for child in node.children if child.tag == tag), None)
            if node is None:
                return None
        return node

    def text_at(self, path: str) -> str | None:
        """The text of the element at `path`, or None when there is none."""
        found = self.find(path)
        return None if found is None else found.text


@dataclasses.dataclass(slots=True)
class Parsed:
    """The root element (None when not even it was read) and why the reading stopped early."""

    root: Element | None
    problem: str | None = None


def _refuse(reason: str) -> Any:
    def handler(*_args: Any) -> Any:
        raise XmlRefused(reason)

    return handler


def parse(text: str, max_elements: int = MAX_ELEMENTS) -> Parsed:
    """Parse `text` into a tree of `Element`s.

    Returns the tree with `problem` None, or as much of it as was read with the reason it stopped
    (malformed or cut short). Raises:
        XmlRefused: the document declares entities or an inline DTD, or has more than
            `max_elements` elements (nothing of it is kept).
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Element] = []
    top: list[Element] = []
    count = 0

    def start_doctype(_name: str, _sysid: str | None, _pubid: str | None, internal_subset: int) -> None:
        if internal_subset:
            raise XmlRefused("an inline DTD (<!DOCTYPE ... [ ... ]>) is refused: it can declare entities")

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > max_elements:
            raise XmlRefused(f"more than {max_elements} elements")
        element = Element(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else top).append(element)
        stack.append(element)

    def end(_tag: str) -> None:
        element = stack.pop()
        element.text = element.text.strip()
        element.closed = True

    def characters(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartDoctypeDeclHandler = start_doctype
    parser.EntityDeclHandler = _refuse("entity declarations are refused")
    parser.UnparsedEntityDeclHandler = _refuse("entity declarations are refused")
    parser.ExternalEntityRefHandler = _refuse("external entities are refused")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.buffer_text = True
    try:
        parser.Parse(text, True)
    except expat.ExpatError as err:
        where = f"{expat.ErrorString(err.code)} at line {err.lineno}, column {err.offset}"
        return Parsed(top[0] if top else None, f"not well-formed XML ({where}): cut short or not this tool's output")
    return Parsed(top[0] if top else None)

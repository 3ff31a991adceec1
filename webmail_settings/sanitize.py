"""Signature HTML: sanitised with nh3 (the Ammonia sanitiser) before it is stored, and the
plain-text version derived from it when the owner leaves that empty.

The allowed set is small on purpose: signatures travel in other people's mail clients and are
shown by webmail front ends, so no scripts, no event handlers, no style attributes or <style>
(CSS expressions, overlays), and links and images only to schemes that cannot run code.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

TAGS = {
    "p", "br", "b", "strong", "i", "em", "u", "a", "img", "span", "div",
    "table", "thead", "tbody", "tr", "td", "th",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
LINK_SCHEMES = ("http://", "https://", "mailto:")
# Inline images (a logo) as data: URIs of raster types only: an SVG can carry script.
IMAGE_SOURCES = ("https://", "data:image/png;", "data:image/jpeg;", "data:image/gif;",
                 "data:image/webp;")  # fmt: skip
MAX_HTML = 20_000


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "a" and attribute == "href":
        return value if lowered.startswith(LINK_SCHEMES) else None
    if tag == "img" and attribute == "src":
        return value if lowered.startswith(IMAGE_SOURCES) else None
    return value


def sanitize_html(html: str) -> str:
    """The signature HTML with everything outside the allowed set removed (script and style
    elements with their content)."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "data"},
        strip_comments=True,
    ).strip()


_BLOCKS = {"p", "div", "tr", "table", "br"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in {"td", "th"}:
            self.parts.append(" ")
        elif tag == "a":
            self._href, self._link_text = values.get("href"), []
        elif tag == "img" and values.get("alt"):
            self.parts.append(values["alt"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "a":
            text = "".join(self._link_text).strip()
            href = (self._href or "").removeprefix("mailto:")
            if href and href != text:
                self.parts.append(f" <{href}>")
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._link_text.append(data)
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """A plain-text rendering of (sanitised) signature HTML: blocks and <br> become line
    breaks, links keep their target after the text."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (
        re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(extractor.parts).split("\n")
    )
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()

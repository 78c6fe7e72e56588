"""XMP packets as XML: read and update the keyword fields, keep every other node as it was.

Written with the standard library only (no extra needed for sidecars). Arrays follow the XMP
specification: dc:subject and lr:hierarchicalSubject are rdf:Bag (unordered sets; some tools wrongly
write rdf:Seq, which is read and then corrected), digiKam:TagsList is rdf:Seq as digiKam writes it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from io import BytesIO

from hashtagger.errors import InputError
from hashtagger.predict.writers.merge import Keywords

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": RDF,
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}
#: (namespace prefix, local name, array kind) of each keyword field, in Keywords' field order.
FIELDS = {
    "subject": ("dc", "subject", "Bag"),
    "hierarchical": ("lr", "hierarchicalSubject", "Bag"),
    "tags_list": ("digiKam", "TagsList", "Seq"),
}
_CONTAINERS = {f"{{{RDF}}}{kind}" for kind in ("Bag", "Seq", "Alt")}
_PACKET_START = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>\n'
_EMPTY = (
    f'<x:xmpmeta xmlns:x="{NAMESPACES["x"]}" x:xmptk="hashtagger">\n'
    f' <rdf:RDF xmlns:rdf="{RDF}">\n  <rdf:Description rdf:about=""/>\n </rdf:RDF>\n</x:xmpmeta>'
)
_ABOUT = f"{{{RDF}}}about"
MAX_BYTES = 16 << 20
# Characters XML 1.0 cannot hold (control characters, lone surrogates from undecodable bytes, U+FFFE/F)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class XmpError(InputError):
    """An XMP packet that cannot be parsed as RDF/XML; the file it came from is left alone."""


def check_xml_text(values: list[str], where: str) -> None:
    """InputError when a keyword holds a character XML cannot carry (the file would be unreadable)."""
    for v in values:
        if _NOT_XML.search(v):
            why = "holds a control character or undecodable byte"
            raise InputError(f"{where}: keyword {v!r} {why}; not written")


def _q(prefix: str, name: str) -> str:
    return f"{{{NAMESPACES[prefix]}}}{name}"


def _register(found: dict[str, str]) -> None:
    # ElementTree keeps one global prefix table; the file's own prefixes first, ours always win
    for prefix, uri in found.items():
        if prefix and not re.fullmatch(r"ns\d+", prefix) and prefix not in NAMESPACES:
            ET.register_namespace(prefix, uri)
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)


class XmpPacket:
    """One XMP document: the keyword fields read and replaced in place, the rest left as parsed."""

    def __init__(self, root: ET.Element) -> None:
        self.root = root

    @classmethod
    def empty(cls) -> XmpPacket:
        return cls(ET.fromstring(_EMPTY))

    @classmethod
    def parse(cls, data: bytes | str, where: str) -> XmpPacket:
        """Parse a sidecar or an embedded packet; XmpError (naming `where`) when it is not XMP."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if len(raw) > MAX_BYTES:
            raise XmpError(f"{where}: XMP larger than {MAX_BYTES >> 20} MiB")
        if b"<!ENTITY" in raw or b"<!DOCTYPE" in raw:
            raise XmpError(f"{where}: XMP with a DOCTYPE or entities is not accepted")
        found: dict[str, str] = {}
        try:
            events = ET.iterparse(BytesIO(raw), events=("start-ns", "end"))
            root = None
            for event, item in events:
                if event == "start-ns":
                    found.setdefault(*item)
                else:
                    root = item
        except ET.ParseError as e:
            raise XmpError(f"{where}: not valid XML ({e})") from None
        if root is None:
            raise XmpError(f"{where}: empty XMP")
        _register(found)
        if root.tag != f"{{{RDF}}}RDF" and root.find(f"{{{RDF}}}RDF") is None:
            raise XmpError(f"{where}: XML but not XMP (no rdf:RDF element)")
        return cls(root)

    def _rdf(self) -> ET.Element:
        return self.root if self.root.tag == f"{{{RDF}}}RDF" else self.root.find(f"{{{RDF}}}RDF")  # type: ignore[return-value]

    def _descriptions(self) -> list[ET.Element]:
        return self._rdf().findall(f"{{{RDF}}}Description")

    def _find(self, prefix: str, name: str) -> tuple[ET.Element, ET.Element] | None:
        for desc in self._descriptions():
            el = desc.find(_q(prefix, name))
            if el is not None:
                return desc, el
        return None

    def get_list(self, prefix: str, name: str) -> list[str]:
        """The items of an array property (or its one plain value), in file order."""
        hit = self._find(prefix, name)
        if hit is None:
            for desc in self._descriptions():  # a plain value may sit in an attribute
                if _q(prefix, name) in desc.attrib:
                    return [desc.attrib[_q(prefix, name)]]
            return []
        el = hit[1]
        box = next((c for c in el if c.tag in _CONTAINERS), None)
        if box is None:
            return [el.text.strip()] if el.text and el.text.strip() else []
        return [li.text or "" for li in box.findall(f"{{{RDF}}}li")]

    def set_list(self, prefix: str, name: str, kind: str, values: list[str]) -> None:
        """Make the property an rdf:`kind` of `values`, reusing existing items; no values removes it."""
        hit = self._find(prefix, name)
        for desc in self._descriptions():
            desc.attrib.pop(_q(prefix, name), None)
        if not values:
            if hit is not None:
                hit[0].remove(hit[1])
            return
        old: dict[str, ET.Element] = {}
        if hit is not None:
            box = next((c for c in hit[1] if c.tag in _CONTAINERS), None)
            for li in box.findall(f"{{{RDF}}}li") if box is not None else []:
                old.setdefault(li.text or "", li)
        el = ET.Element(_q(prefix, name))
        box = ET.SubElement(el, f"{{{RDF}}}{kind}")
        for v in values:
            li = old.get(v)
            if li is None:
                li = ET.Element(f"{{{RDF}}}li")
                li.text = v
            box.append(li)
        if hit is None:
            descs = self._descriptions()
            desc = descs[0] if descs else ET.SubElement(self._rdf(), f"{{{RDF}}}Description", {_ABOUT: ""})
            desc.append(el)
        else:
            desc = hit[0]
            desc.insert(list(desc).index(hit[1]), el)
            desc.remove(hit[1])
        depth = len(_path_to(self.root, desc)) - 1
        ET.indent(el, space=" ", level=depth + 1)
        _reindent(desc, depth)

    def keywords(self) -> Keywords:
        """The three keyword fields (IPTC is not XMP: left None)."""
        return Keywords(**{f: self.get_list(p, n) for f, (p, n, _) in FIELDS.items()})

    def set_keywords(self, kw: Keywords) -> None:
        for f, (prefix, name, kind) in FIELDS.items():
            self.set_list(prefix, name, kind, getattr(kw, f))

    def to_bytes(self) -> bytes:
        """The whole packet, UTF-8, inside an xpacket wrapper (what exiftool and Adobe tools write)."""
        _register({})
        body = ET.tostring(self.root, encoding="unicode")
        return (_PACKET_START + body + _PACKET_END).encode("utf-8")


def _path_to(root: ET.Element, target: ET.Element) -> list[ET.Element]:
    """Ancestors of target from root (the depth sets the indentation of new elements)."""
    stack = [(root, [root])]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        stack.extend((c, path + [c]) for c in node)
    return []


def _reindent(desc: ET.Element, depth: int) -> None:
    """Line breaks around a description's children so an added field sits on its own line."""
    kids = list(desc)
    if not kids:
        return
    inner, outer = "\n" + " " * (depth + 1), "\n" + " " * depth
    if not (desc.text or "").strip():
        desc.text = inner
    for i, child in enumerate(kids):
        if not (child.tail or "").strip():
            child.tail = inner if i < len(kids) - 1 else outer

"""Parsing Windows event XML safely (defusedxml) and faithfully (CR LF inside values kept)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

#: what a broken or hostile XML text raises
XML_ERRORS = (ParseError, DefusedXmlException, ValueError)


def parse_xml(text: str) -> Element:
    """Parse XML text (no DTDs, no entities: logs are written by the attacker).

    XML parsers turn CR LF into LF; Windows data keeps CR LF (AccessList, TaskContent, script
    blocks), so CRs are passed as character references to survive parsing. Raises XML_ERRORS.
    """
    if "\r" in text:
        try:
            root: Element = fromstring(text.replace("\r", "&#13;"))
            return root
        except XML_ERRORS:
            pass  # a CR inside a tag: parse as is
    root = fromstring(text)
    return root


def local(tag: str) -> str:
    """Tag or attribute name without its {namespace}."""
    return tag.rsplit("}", 1)[-1]

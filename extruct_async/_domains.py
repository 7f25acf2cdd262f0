"""Registered domains: what `exclude_domains` entries reduce to, as the service does it.

Shared by the SDK (matching a create to a listed task) and the simulator (normalising
`exclude_domains`), like `_constraints`, so the two cannot drift apart.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["registered_domain"]

# A short stand-in for the Public Suffix List: enough for the countries the simulator invents.
_TWO_LEVEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.nz",
        "co.jp", "co.in", "co.il", "com.br", "com.sg", "co.za", "com.mx", "com.cn", "co.kr",
    }
)  # fmt: skip


def registered_domain(text: str) -> str | None:
    """Reduce a URL or host name to its registered domain.

    ``"https://www.Acme.com/about"`` becomes ``"acme.com"`` and
    ``"shop.example.co.uk"`` becomes ``"example.co.uk"``.

    Args:
        text: A URL, with or without a scheme, or a bare host name.

    Returns:
        The lower-case registered domain, or None when ``text`` holds no plausible host name.
    """
    candidate = text.strip().lower()
    if "//" not in candidate:
        candidate = "//" + candidate
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    labels = (host or "").rstrip(".").split(".")
    if len(labels) < 2 or not labels[-1].isalpha() or not all(map(_is_label, labels)):
        return None
    keep = 3 if ".".join(labels[-2:]) in _TWO_LEVEL_SUFFIXES else 2
    if len(labels) < keep:
        return None
    return ".".join(labels[-keep:])


def _is_label(label: str) -> bool:
    return 0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()

"""Registered domains: what `exclude_domains` entries reduce to, as the service does it.

Shared by the SDK (checking `exclude_domains`, matching a create to a listed task) and
the simulator (normalising `exclude_domains`), like `_constraints`, so the two cannot
drift apart.

An entry is a URL or a host name; its *registered domain* is the host cut down to one
label below its public suffix (``https://www.Acme.com/about`` -> ``acme.com``,
``shop.example.com.ar`` -> ``example.com.ar``). The suffixes are the ICANN section of
the Public Suffix List, from the snapshot the ``publicsuffixlist`` wheel ships: nothing
is fetched, ever. Internationalised names (``über.de``) are accepted in Unicode or
punycode and reduced to their lower-case ASCII form (``xn--ber-goa.de``), the form DNS
uses: IDNA 2008 with the UTS #46 mapping, and IDNA 2003 (Python's own codec) for the
names only it allows.

What the service itself keeps for such a name (the Unicode or the ASCII form; IDNA 2003
or 2008, which spell ``straße.de`` differently; the list's private section or not, which
cut ``shop.foo.github.io`` differently; its own snapshot of the list) is not published:
:func:`spellings` gives the forms to compare, so that two spellings of one name are
never called different.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

__all__ = ["host_name", "registered_domain", "spellings"]

# A label of an ASCII host name, leniently: letters, digits, "-" and "_" (which some
# hosts carry although DNS host names do not); whether the service is stricter is unknown.
_ASCII_LABEL = re.compile(r"[a-z0-9_-]{1,63}")


def host_name(text: str) -> str | None:
    """The host of a URL or host name, lower-case ASCII (IDNs in punycode).

    Args:
        text: A URL, with or without a scheme, or a bare host name.

    Returns:
        The host, or None when ``text`` holds no plausible domain name (a single label
        such as ``localhost``, an IP address, spaces, an empty label, a name IDNA refuses).
    """
    candidate = text.strip()
    if "//" not in candidate:
        candidate = "//" + candidate
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    if not host:
        return None
    if not host.isascii():
        host = _ascii(host)
        if host is None:
            return None
    labels = host.removesuffix(".").split(".")
    if len(labels) < 2 or labels[-1].isdigit():  # one label, or an IPv4 address
        return None
    if not all(_ASCII_LABEL.fullmatch(label) for label in labels):
        return None
    return ".".join(labels)


def registered_domain(text: str) -> str | None:
    """Reduce a URL or host name to its registered domain.

    ``"https://www.Acme.com/about"`` becomes ``"acme.com"``, ``"shop.example.com.ar"``
    becomes ``"example.com.ar"`` and ``"www.Über.de"`` becomes ``"xn--ber-goa.de"``.

    Args:
        text: A URL, with or without a scheme, or a bare host name.

    Returns:
        The lower-case ASCII registered domain, or None when ``text`` holds no plausible
        domain name or only a public suffix (``co.uk``).
    """
    host = host_name(text)
    return None if host is None else _icann().privatesuffix(host)


@functools.lru_cache(maxsize=8192)
def spellings(text: str) -> frozenset[str] | None:
    """Every form in which the service may keep the domain of ``text``, in ASCII.

    The host and its registered domain, each by IDNA 2008 and by IDNA 2003. Two
    entries whose spellings meet may be one domain: one the service shows (whichever
    form it keeps, and cut by the whole Public Suffix List or its ICANN section) meets
    the entry it came from.

    Args:
        text: A URL, a host name or a domain as the service shows it.

    Returns:
        The spellings, or None when ``text`` holds no registered domain by this list
        (a service with another snapshot of the list may still have found one).
    """
    host = host_name(text)
    if host is None or _icann().privatesuffix(host) is None:
        return None
    hosts = {host}
    if "xn--" in host:  # an IDN: IDNA 2003 maps some letters away (ß -> ss)
        unicode = _unicode(host)
        older = _ascii_2003(unicode) if unicode is not None else None
        if older is not None:
            hosts.add(older)
    forms = set(hosts)
    for name in hosts:
        reduced = _icann().privatesuffix(name)
        if reduced is not None:
            forms.add(reduced)
    return frozenset(forms)


def _ascii(host: str) -> str | None:
    import idna  # only for names that are not ASCII already

    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        pass  # IDNA 2008 refuses symbols (i❤.ws) and "_" that IDNA 2003 allowed
    except UnicodeError:  # pragma: no cover - idna raises IDNAError, a UnicodeError
        pass
    return _ascii_2003(host)


def _ascii_2003(host: str) -> str | None:
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _unicode(host: str) -> str | None:
    import idna

    try:
        return str(idna.decode(host))
    except UnicodeError:  # a punycode label IDNA 2008 refuses, or no punycode at all
        try:
            return host.encode("ascii").decode("idna")
        except UnicodeError:
            return None


@functools.cache
def _icann() -> PublicSuffixList:
    # Parsed on first use (about 70 ms), from the wheel's bundled snapshot.
    return PublicSuffixList(only_icann=True)

"""Registered domains: the Public Suffix List, internationalised names, no network."""

from __future__ import annotations

import random
import string
import subprocess
import sys
import textwrap

import idna
import pytest

from extruct_async._domains import host_name, registered_domain, spellings
from extruct_async._protocol import create_request

# "www.example" and "com" in full-width letters and dot, then an ideographic full stop.
FULL_WIDTH = "\u3002".join("".join(chr(ord(c) + 0xFEE0) for c in part)
                           for part in ("www.example", "com"))


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        # The Public Suffix List, not a short stand-in for it.
        ("shop.example.com.ar", "example.com.ar"),
        ("https://www.shop.example.com.br/x", "example.com.br"),
        ("a.b.example.kawasaki.jp", "b.example.kawasaki.jp"),  # *.kawasaki.jp
        ("www.city.kawasaki.jp", "city.kawasaki.jp"),  # !city.kawasaki.jp
        ("shop.example.gov.ar", "example.gov.ar"),
        ("foo.github.io", "github.io"),  # the ICANN section only: github.io is private
        ("example.unknowntld", "example.unknowntld"),
        ("www.example.xn--p1ai", "example.xn--p1ai"),
        # Internationalised names, in Unicode or punycode, reduced to lower-case ASCII.
        ("über.de", "xn--ber-goa.de"),
        ("https://www.ÜBER.de/about?x=1", "xn--ber-goa.de"),
        ("xn--ber-goa.de", "xn--ber-goa.de"),
        ("XN--BER-GOA.DE.", "xn--ber-goa.de"),
        ("shop.straße.de", "xn--strae-oqa.de"),  # IDNA 2008 keeps ß
        ("магазин.пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("www.例え.テスト", "xn--r8jz45g.xn--zckzah"),
        (FULL_WIDTH, "example.com"),  # full-width letters and dots
        ("i❤.ws", "xn--i-7iq.ws"),  # allowed by IDNA 2003 only
        ("my_site.example.com", "example.com"),
        # No domain, or only a public suffix.
        ("com.ar", None),
        ("рф", None),
        ("localhost", None),
        ("not a domain", None),
        ("über", None),
        ("a..com", None),
        ("192.168.0.1", None),
        ("http://[2001:db8::1]/", None),
        ("   ", None),
    ],
)
def test_registered_domain(text: str, domain: str | None) -> None:
    assert registered_domain(text) == domain


def test_spellings_hold_every_form_the_service_may_keep() -> None:
    # Unicode or punycode, IDNA 2008 or 2003, the host or its registered domain.
    assert spellings("www.Straße.de") == frozenset(
        {"www.xn--strae-oqa.de", "xn--strae-oqa.de", "www.strasse.de", "strasse.de"})
    assert spellings("über.de") == spellings("xn--ber-goa.de") == frozenset({"xn--ber-goa.de"})
    assert spellings("foo.github.io") == frozenset({"foo.github.io", "github.io"})
    assert spellings("localhost") is None
    assert spellings("com.ar") is None  # no registered domain by this snapshot of the list


# -- any valid name is accepted --------------------------------------------------------

# Letters of scripts whose labels need no bidi or context rules, upper case included.
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "abcdefghijklmnopqrstuvwxyzäöüßéèêëàâçñåøæœ\u0131ÄÖÜÉÈÀÇÑÅØ0123456789",  # \u0131: a dotless i
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОП",
    "αβγδεζηθικλμνξοπρστυφχψωςΑΒΓΔΕ",
    "中文域名测试例子公司网络商店北京上海",
    "ぁあいうえおかきくけこさしすせそたちつてとなにぬねの",
    "ァアィイゥウェエォオカガキギクグケゲコゴサザシジスズ",
    "가나다라마바사아자차카타파하한글도메인",
]


SUFFIXES = ["com", "de", "io", "co.uk", "com.ar", "com.au", "co.jp", "xn--p1ai", "рф", "中国",
            "みんな", "photography", "DE", "Com"]


def label(draw: random.Random, ascii_only: bool) -> str:
    alphabet = ALPHABETS[0] if ascii_only else draw.choice(ALPHABETS)
    size = 20 if alphabet.isascii() else 8  # within 63 characters once in punycode
    parts = ["".join(draw.choices(alphabet, k=draw.randint(1, size)))
             for _ in range(draw.randint(1, 2))]
    return "-".join(parts)


def valid_entry(draw: random.Random) -> str:
    ascii_only = draw.random() < 0.4
    suffix = draw.choice([*SUFFIXES, "".join(draw.choices(string.ascii_lowercase, k=5))])
    if ascii_only and not suffix.isascii():
        suffix = "com"
    host = ".".join([*(label(draw, ascii_only) for _ in range(draw.randint(1, 3))), suffix])
    if draw.random() < 0.2:
        host += "."
    if draw.random() < 0.5:
        return host
    scheme = draw.choice(["https://", "http://", "HTTPS://", "//", ""])
    port = draw.choice(["", ":8443", ":80"])
    path = draw.choice(["", "/", "/about", "/über?q=1", "/a/b#top"])
    spaces = draw.choice(["", " ", "\t"])
    return f"{spaces}{scheme}{host}{port}{path}{spaces}"


# 1,500 names (most of them internationalised): none may be refused. A seeded generator,
# not hypothesis: the same names every run, in a fraction of the time.
ENTRIES = [valid_entry(random.Random(f"valid names {i}")) for i in range(1500)]


def test_valid_names_are_never_refused() -> None:
    assert 600 < sum(not entry.isascii() for entry in ENTRIES) < 1200
    refused = [entry for entry in ENTRIES if registered_domain(entry) is None]
    assert refused == []
    create_request("q", exclude_domains=ENTRIES)  # nor by the request's own check


@pytest.mark.parametrize("entry", ENTRIES[::15])
def test_the_reduction_of_a_valid_name(entry: str) -> None:
    domain = registered_domain(entry)
    host = host_name(entry)
    assert domain is not None
    assert host is not None
    assert domain.isascii()
    assert domain == domain.lower()
    assert host == domain or host.endswith("." + domain)
    assert registered_domain(domain) == domain
    assert registered_domain(idna.decode(domain)) == domain  # the Unicode form agrees
    assert domain in (spellings(entry) or ())


def test_no_network_is_touched() -> None:
    # The Public Suffix List comes from the wheel's snapshot: sockets that refuse every use
    # do not stop it, and the package's downloader is never imported.
    script = textwrap.dedent("""
        import socket, sys

        def refuse(*args, **kwargs):
            raise AssertionError("network used")

        socket.socket = refuse
        socket.create_connection = socket.getaddrinfo = refuse
        from extruct_async._domains import registered_domain, spellings
        assert registered_domain("https://www.shop.example.com.ar/") == "example.com.ar"
        assert registered_domain("über.de") == "xn--ber-goa.de"
        assert "github.io" in spellings("foo.github.io")
        assert "publicsuffixlist.update" not in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")

"""htu normalisation (security/htu.py): RFC 3986 §6.2.2/§6.2.3 on both sides, refusals for non-URLs."""

from __future__ import annotations

import pytest

from security.htu import NotAnHttpUrl, normalize_htu, normalize_request_url


@pytest.mark.parametrize("url, normal", [
    ("https://api.example/api/private", "https://api.example/api/private"),
    ("HTTPS://API.Example/api/Private", "https://api.example/api/Private"),  # the path keeps its case
    ("https://api.example:443/x", "https://api.example/x"),
    ("http://api.example:80/x", "http://api.example/x"),
    ("https://api.example:80/x", "https://api.example:80/x"),
    ("http://api.example:443/x", "http://api.example:443/x"),
    ("https://api.example:0443/x", "https://api.example/x"),
    ("https://api.example:/x", "https://api.example/x"),
    ("https://api.example", "https://api.example/"),
    ("https://api.example/%7euser/%2fx/%e2%82%ac", "https://api.example/~user/%2Fx/%E2%82%AC"),
    ("https://api.example/a/./b/../c", "https://api.example/a/c"),
    ("https://api.example/a/%2E%2E/b", "https://api.example/b"),
    ("https://api.example/a/b/..", "https://api.example/a/"),
    ("https://api.example/../../x", "https://api.example/x"),
    ("https://api.example/a//b", "https://api.example/a//b"),
    ("https://api.example/a/", "https://api.example/a/"),
    ("https://api.example/caf\u00e9", "https://api.example/caf%C3%A9"),
    ("https://[::FFFF:1.2.3.4]:8443/a", "https://[::ffff:102:304]:8443/a"),
    ("http://[::1]/a", "http://[::1]/a"),
    ("http://127.0.0.1:5000/a", "http://127.0.0.1:5000/a"),
    ("https://my_host.example./a", "https://my_host.example./a"),
    ("https://xn--bcher-kva.example/a", "https://xn--bcher-kva.example/a"),
])
def test_normal_forms(url, normal):
    assert normalize_htu(url) == normal == normalize_request_url(url)


def test_the_request_side_drops_query_and_fragment_the_proof_side_refuses_them():
    assert normalize_request_url("https://api.example/a?b=1#c") == "https://api.example/a"
    assert normalize_request_url("https://api.example/a#c?d") == "https://api.example/a"
    for htu in ("https://api.example/a?b=1", "https://api.example/a?", "https://api.example/a#"):
        with pytest.raises(NotAnHttpUrl):
            normalize_htu(htu)


@pytest.mark.parametrize("url", [
    "", "api.example/a", "//api.example/a", "/a", "https:/api.example/a", "https:api.example",
    "ftp://api.example/a", "javascript://api.example/a", "https://",
    "https://user@api.example/a", "https://user:pw@api.example/a",
    "https://api.example:65536/a", "https://api.example:123456/a", "https://api.example:x/a",
    "https://[::1/a", "https://[::g]/a", "https://[fe80::1%25eth0]/a",
    "https://b\u00fccher.example/a", "https://\u212aiosk.example/a", "https://api\u3002example/a",
    "https://api.example\\evil.example/a", "https://api example/a", "https://api.example/a b",
    "https://api.example/a\tb", "https://api.example/a\nb", "https://api.example/a\x00",
    "https://api.example/%", "https://api.example/%2", "https://api.example/%zz", "https://api.example/a\\b",
    "https://api.example/<script>", "https://api.example/\ud800",
    "\u0068ttps\u2215\u2215api.example/a", "HTTPS\uff1a//api.example/a",
])
def test_refusals(url):
    with pytest.raises(ValueError):
        normalize_htu(url)
    with pytest.raises(ValueError):
        normalize_request_url(url)

"""Request bodies and headers built to break the parser: a 4xx in OpenAI's shape (never a 500),
and the server answers the next good request."""

from __future__ import annotations

import socket

import httpx
import pytest

from serve_process import KEY

AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
C = "/v1/completions"

CASES = [
    ("nested-deep", b"[" * 200_000 + b"]" * 200_000, "body"),
    ("huge-integer", b'{"prompt": "a", "max_tokens": ' + b"9" * 5000 + b"}", "body"),
    ("nan-temperature", b'{"prompt": "a", "max_tokens": 2, "temperature": NaN}', "temperature"),
    ("infinite-max-tokens", b'{"prompt": "a", "max_tokens": 1e400}', "max_tokens"),
    ("nested-prompt", b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}", "body"),
]


def _good(server) -> None:
    r = httpx.post(server.base + C, json={"prompt": "the cat", "max_tokens": 2}, headers=AUTH, timeout=60)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("name, body, param", CASES, ids=[c[0] for c in CASES])
def test_hostile_body_is_a_400(plain_server, name, body, param):  # `request-nested-deep`, `request-huge-number`
    r = httpx.post(plain_server.base + C, content=body, headers=AUTH, timeout=60)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and "\n" not in err["message"] and len(err["message"]) < 400
    _good(plain_server)


@pytest.mark.parametrize("header", ["Authorization", "Host", "X-Filler"])
def test_huge_header_is_refused_and_the_server_stays_up(plain_server, header):  # `request-huge-header`
    port = int(plain_server.base.rsplit(":", 1)[1])
    value = "a" * 200_000
    req = (f"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n{header}: {value}\r\n"
           "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(req)
            data = s.recv(4096)
        except ConnectionResetError:  # closed while we were still sending: refused as well
            data = b""
    assert not data.startswith(b"HTTP/1.1 200") and not data.startswith(b"HTTP/1.1 5")
    _good(plain_server)

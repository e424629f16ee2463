"""DNS rebinding: a loopback server answers only loopback Host names (or --allow-host ones)
and loopback Origins (or --allow-origin ones), with a 403 in OpenAI's shape before any work;
it answers the next good request after each refusal."""

from __future__ import annotations

import json
import socket

import openai
import pytest

from serve_process import KEY

BODY = json.dumps({"prompt": "the cat", "max_tokens": 2})


def _raw(server, host: str, path: str = "/v1/completions", body: str = BODY,
         ctype: str = "application/json", origin: str | None = None) -> tuple[int, dict]:
    """One HTTP/1.1 request written by hand on a socket: (status, JSON body)."""
    port = int(server.base.rsplit(":", 1)[1])
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Type: {ctype}",
            f"Authorization: Bearer {KEY}", f"Content-Length: {len(body)}", "Connection: close"]
    if origin:
        head.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n" + body).encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"{}")


def _good(server) -> None:
    out = server.client().completions.create(model="tiny.gguf", prompt="the cat", max_tokens=2)
    assert out.choices[0].finish_reason in ("length", "stop")


@pytest.fixture(scope="module")
def guarded(tiny_gguf, tmp_path_factory):
    from serve_process import ServerProcess

    s = ServerProcess(tiny_gguf, tmp_path_factory.mktemp("serve"), "--api-key", KEY,
                      "--allow-host", "eager.proxy.example", "--allow-origin", "http://app.example")
    yield s
    s.kill()


@pytest.mark.parametrize("host", ["attacker.example:18977", "attacker.example", "localhost.attacker.example",
                                  "127.0.0.1.nip.io:80", "192.168.1.5:8080", ""])
def test_foreign_host_is_403(guarded, host):  # `server-host-foreign`
    status, body = _raw(guarded, host)
    assert status in (400, 403)  # an empty Host is refused by the HTTP parser itself
    if status == 403:
        assert body["error"]["code"] == "host_not_allowed" and body["error"]["param"] == "host"
        assert body["error"]["type"] == "permission_error"
    _good(guarded)


@pytest.mark.parametrize("host", ["localhost", "localhost:1", "127.0.0.1:65535", "[::1]:8080", "LOCALHOST:80"])
def test_loopback_host_any_port_is_200(guarded, host):
    status, body = _raw(guarded, host)
    assert status == 200 and body["object"] == "text_completion"


def test_allow_host_admits_its_name(guarded):
    assert _raw(guarded, "eager.proxy.example")[0] == 200
    assert _raw(guarded, "eager.proxy.example:443")[0] == 200
    assert _raw(guarded, "other.proxy.example")[0] == 403


def test_openai_client_with_a_foreign_host_header(guarded):
    cl = guarded.client(default_headers={"Host": "attacker.example:18977"})
    with pytest.raises(openai.PermissionDeniedError) as e:
        cl.models.list()
    assert e.value.status_code == 403 and e.value.body["code"] == "host_not_allowed"
    assert guarded.client().models.list().data[0].id == "tiny.gguf"


@pytest.mark.parametrize("origin", ["http://attacker.example:18977", "null", "http://app.example.evil.com",
                                    "https://attacker.example", "file://"])
def test_foreign_origin_simple_post_is_403(guarded, origin):  # `server-origin-foreign`
    # a <form enctype="text/plain"> POST: CORS sends no preflight for it
    status, body = _raw(guarded, "localhost:8080", ctype="text/plain", origin=origin,
                        body='{"prompt": "the cat", "max_tokens": 2, "x": "="}')
    assert status == 403 and body["error"]["code"] == "origin_not_allowed"
    status, _ = _raw(guarded, "localhost", path="/health", origin=origin)
    assert status == 403  # refused before routing (a POST to /health would be 405)
    _good(guarded)


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:80",
                                    "http://app.example"])
def test_loopback_or_allowed_origin_is_served(guarded, origin):
    assert _raw(guarded, "127.0.0.1", origin=origin)[0] == 200


def test_rebinding_page_cannot_read_models(guarded):
    """What the issue's page did: Host and Origin both the attacker's name."""
    port = int(guarded.base.rsplit(":", 1)[1])
    req = (f"GET /v1/models HTTP/1.1\r\nHost: attacker.example:{port}\r\n"
           f"Origin: http://attacker.example:{port}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(req.encode())
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 403") and b"tiny.gguf" not in data
    _good(guarded)


def test_exposed_without_a_key_warns_in_one_line(start_server, tiny_gguf):  # `server-exposed-no-key`
    s = start_server(tiny_gguf, "--host", "0.0.0.0")
    warning = [ln for ln in s.stderr().splitlines() if "warning" in ln]
    assert len(warning) == 1 and "every interface" in warning[0] and "--api-key" in warning[0]
    assert "under any Host name" in warning[0]
    # the Host check does not apply off loopback unless --allow-host names the names
    assert _raw(s, "my-machine.lan:8080")[0] in (200, 401)


def test_loopback_with_a_key_prints_no_warning(start_server, tiny_gguf):
    s = start_server(tiny_gguf, "--api-key", KEY)
    assert "warning" not in s.stderr()

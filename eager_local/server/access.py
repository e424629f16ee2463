"""Which Host and Origin headers the server answers: the guard against DNS rebinding.

A web page the user visits can point its own name at 127.0.0.1 and then call
a loopback server as a same-origin page (CORS does not apply). So a server
bound to loopback answers only requests whose Host is a loopback name (any
port) or one given with ``--allow-host``; and a browser ``Origin`` must be a
loopback origin or one given with ``--allow-origin``, on every request (a
form POST with ``text/plain`` is sent without a preflight). The refusal is a
403 in OpenAI's error shape, before the request's body is read.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

from .errors import ApiError
from .limits import ServerConfig

#: Host names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for a loopback name or address (``localhost``, 127.x.x.x, ``::1``)."""
    host = host.strip().lower().rstrip(".").strip("[]")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name of a Host header without its port: ``[::1]:80`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def refusal(headers: dict[str, str], cfg: ServerConfig) -> ApiError | None:
    """The 403 for a request with these (lower-case) headers, or None to serve it."""
    host = headers.get("host")
    if host is not None and not _host_allowed(host_name(host), cfg):
        return ApiError(403, f"Host {host!r} is not this server's name; a loopback server answers "
                        "localhost, 127.0.0.1 and [::1] (start it with --allow-host NAME to add one)",
                        type="permission_error", param="host", code="host_not_allowed")
    origin = headers.get("origin")
    if origin is not None and not _origin_allowed(origin, cfg):
        return ApiError(403, f"Origin {origin!r} may not call this server; start it with "
                        "--allow-origin ORIGIN to let that web page use it",
                        type="permission_error", param="origin", code="origin_not_allowed")
    return None


def _host_allowed(name: str, cfg: ServerConfig) -> bool:
    allowed = {h.lower().rstrip(".").strip("[]") for h in cfg.allow_hosts}
    if name in allowed or "*" in allowed or is_loopback(name):
        return True
    if is_loopback(cfg.host):
        return False
    # bound to another interface: the Host is checked only against an explicit list
    return not cfg.allow_hosts or name == cfg.host.lower().strip("[]")


def _origin_allowed(origin: str, cfg: ServerConfig) -> bool:
    if "*" in cfg.allow_origins or origin.rstrip("/") in {o.rstrip("/") for o in cfg.allow_origins}:
        return True
    try:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and is_loopback(parts.hostname or "")
    except ValueError:
        return False


class AccessGuard:
    """ASGI middleware: refuse foreign Host and Origin headers before any route runs."""

    def __init__(self, app, cfg: ServerConfig) -> None:
        self.app, self.cfg = app, cfg

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            err = refusal(headers, self.cfg)
            if err is not None:
                await JSONResponse(err.body(), status_code=err.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def exposure_warning(host: str, allow_hosts) -> str:
    """The one line ``eager serve`` prints when bound off loopback without an API key."""
    where = "every interface of this machine" if host in ("0.0.0.0", "::", "") else host
    names = "" if allow_hosts else ", under any Host name"
    return (f"eager serve: warning: listening on {where} without --api-key: anyone on its "
            f"networks can use the model{names}; add --api-key KEY (and --allow-host NAME)")

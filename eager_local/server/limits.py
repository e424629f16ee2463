"""What the server listens on and what it refuses: one frozen value built by ``eager serve``."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import MAX_SEQUENCES

#: Requests waiting for a place in the batch before new ones get 429.
DEFAULT_MAX_QUEUE = 32
#: Requests decoded together (their sequences share one batched decode per step).
DEFAULT_CONCURRENCY = 8
#: Largest ``max_tokens`` a request may ask for (per sequence).
DEFAULT_MAX_TOKENS = 4096
#: Largest request body, in bytes.
DEFAULT_MAX_BODY = 1 << 20


@dataclass(frozen=True)
class ServerConfig:
    """Address, access key and limits of one ``eager serve`` process."""

    model_id: str
    """The name ``/v1/models`` lists and requests may give as ``model``."""
    host: str = "127.0.0.1"
    """Interface to bind; loopback unless the user asks for another."""
    port: int = 8080
    """TCP port; 0 picks a free one (the printed URL names it)."""
    api_key: str | None = None
    """When set, every /v1 request needs ``Authorization: Bearer <api_key>``."""
    allow_origins: tuple[str, ...] = ()
    """Web origins whose pages may call the server (CORS); none by default (loopback pages may)."""
    allow_hosts: tuple[str, ...] = ()
    """Host header names answered besides localhost, 127.0.0.1 and [::1] (a reverse proxy's name)."""
    max_queue: int = DEFAULT_MAX_QUEUE
    """Requests that may wait while ``concurrency`` are decoding; more get 429."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Requests decoded together, one batched decode per step (1: one at a time)."""
    max_choices: int = MAX_SEQUENCES
    """Largest ``n`` and ``eager.max_seqs`` (llama.cpp holds at most 256 sequences)."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    """Largest ``max_tokens`` a request may ask for."""
    max_body: int = DEFAULT_MAX_BODY
    """Largest request body in bytes; larger ones get 413."""
    n_ctx: int = 8192
    """KV cells of the model's context (a prompt must leave room to generate)."""
    default_theta: float = 2.0
    """θ when a request's ``eager`` object gives none (the model's models.toml theta)."""

    def validate(self) -> "ServerConfig":
        """Raise SettingsError naming the first bad limit; return self."""
        from ..errors import SettingsError

        if not 0 <= self.port <= 65535:
            raise SettingsError(f"--port must be between 0 and 65535 (got {self.port})")
        if self.max_queue < 0:
            raise SettingsError(f"--max-queue must be ≥ 0 (got {self.max_queue})")
        if self.concurrency < 1:
            raise SettingsError(f"--concurrency must be ≥ 1 (got {self.concurrency})")
        if not 1 <= self.max_choices <= MAX_SEQUENCES:
            raise SettingsError(f"--max-choices must be between 1 and {MAX_SEQUENCES} (got {self.max_choices})")
        if self.max_tokens < 1:
            raise SettingsError(f"--max-tokens must be ≥ 1 (got {self.max_tokens})")
        if self.max_body < 1024:
            raise SettingsError(f"--max-body must be at least 1024 bytes (got {self.max_body})")
        if self.api_key is not None and not self.api_key.strip():
            raise SettingsError("--api-key is empty: give a key, or leave the option out")
        return self

"""A deterministic model for the TUI tests: FakeEngine with word pieces (imported by tests/tui)."""

from __future__ import annotations

import time

from eager_local.api import Model
from eager_local.decoding.prefix_cache import attach
from eager_local.engine.fake import FakeEngine, hashed_script
from eager_local.errors import ModelError
from eager_local.models.registry import ModelSpec
from eager_local.result import ModelInfo
from eager_local.settings import Settings

from tui.widgets.controls import ModelChoice

VOCAB = 48
WORDS = ("the a cat dog sat on mat and ran to park . it was happy very big small red blue "
         "then saw bird tree under over quickly slowly home sun moon star river hill road "
         "green old new sang jumped looked far near day night").split()
PIECES = {i + 3: (" " + w).encode() for i, w in enumerate(WORDS[: VOCAB - 3])}
PIECES[20] = b"\n"
SETTINGS = Settings(theta=1.5, max_seqs=6, max_new_tokens=40)
CHOICES = [ModelChoice("fake", "fake 1MB present"), ModelChoice("missing", "missing - missing")]


def fake_engine(delay: float = 0.0, eog=(1,), prompt_format: str = "raw") -> FakeEngine:
    engine = FakeEngine(hashed_script(VOCAB, 2.0), vocab=VOCAB, pieces=PIECES, eog=eog,
                        prompt_format=prompt_format)
    if delay:
        decode = engine.decode

        def slow(*a, **kw):
            time.sleep(delay)
            return decode(*a, **kw)

        engine.decode = slow
    return engine


def fake_loader(delay: float = 0.0, n_ctx: int = 4096, eog=(1,), prompt_format: str = "raw",
                prefix_cache: bool = False):
    """A loader like eager_local.api.load: 'fake' loads, anything else is missing.
    ``prompt_format`` "chat": a chat model (the fake engine's plain transcript template);
    ``prefix_cache``: with a prefix cache, as ``load`` gives by default."""
    loads = []

    def load(spec):
        loads.append(spec)
        if spec != "fake":
            raise ModelError(f"unknown model alias {spec!r} (known: fake)")
        engine = fake_engine(delay, eog, prompt_format)
        engine.n_ctx = n_ctx
        if prefix_cache:
            attach(engine)
        return Model(ModelSpec(alias="fake"), engine,
                     ModelInfo("fake", "/models/fake.gguf", None,
                               prompt_format="chat" if prompt_format == "chat" else None))

    load.loads = loads
    return load


def make_app(delay: float = 0.0, n_ctx: int = 4096, eog=(1,), prompt_format: str = "raw",
             prefix_cache: bool = False, **kw):
    """The TUI over the fake model, with timings hidden (snapshots stay stable)."""
    from tui.app import EagerApp

    kw.setdefault("settings", SETTINGS)
    kw.setdefault("prompt", "Once upon a time")
    return EagerApp(loader=fake_loader(delay, n_ctx, eog, prompt_format, prefix_cache), choices=CHOICES,
                    model="fake", show_rates=False, **kw)


def record_notes(app) -> list[tuple[str, str]]:
    """Capture (severity, message) of every notification the app shows."""
    notes = []
    original = app.notify

    def notify(message, *a, severity="information", **kw):
        notes.append((severity, str(message)))
        return original(message, *a, severity=severity, **kw)

    app.notify = notify
    return notes

"""What the generation worker does, without Textual: load (and keep) a model, and
turn the controller's event stream into ~30 ms batches.

The worker calls these from its thread and hands batches to ``post_message``;
nothing here touches a widget.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from eager_local.events import Forked, RunFinished, StepFinished, TokenSampled

BATCH_S = 0.03
"""How long the worker collects events before posting them to the UI."""

Loader = Callable[[str | None], object]
"""Loads a model by alias or path (None: the registry's default); returns an
``eager_local.api.Model``-like object with ``engine``, ``info`` and ``stream``."""


def default_loader(spec: str | None):
    from eager_local.api import load

    return load(spec)


class ModelCache:
    """The last loaded model, reused while the same alias/path is asked for.

    Only the worker thread calls ``get``; ``lock`` keeps two runs from ever
    using one engine at once.
    """

    def __init__(self, loader: Loader = default_loader) -> None:
        self._loader = loader
        self._key: object = object()
        self._model = None
        self.lock = threading.Lock()

    def loaded(self, spec: str | None) -> bool:
        return self._model is not None and self._key == spec

    def get(self, spec: str | None):
        if not self.loaded(spec):
            self.close()
            self._model = self._loader(spec)
            self._key = spec
        return self._model

    def close(self) -> None:
        model, self._model, self._key = self._model, None, object()
        close = getattr(model, "close", None)
        if close is not None:
            close()


def piece_text(engine, token: int) -> str:
    """A token's text for display (bytes decoded with replacement characters)."""
    return engine.piece(token).decode("utf-8", errors="replace")


def pump(
    events: Iterable,
    engine,
    emit: Callable[[tuple, dict[int, str]], None],
    interval: float = BATCH_S,
    clock: Callable[[], float] = time.monotonic,
    ready: Callable[[], bool] = lambda: True,
    event_of: Callable[[object], object] = lambda item: item,
) -> None:
    """Forward ``events`` to ``emit(batch, new_vocab)`` in batches at least ``interval`` apart.

    A batch is cut at a step boundary once ``interval`` has passed and ``ready()``
    says the UI has drawn the previous one (so batches never pile up in its queue
    and a key press waits behind one batch at most), and at the end. Decoding
    never waits for the UI. ``new_vocab`` carries the text of token ids (chosen or
    candidate) not sent before. ``event_of`` finds the event in an item (for
    ``(run id, event)`` pairs: the second).
    """
    buf: list = []
    vocab: dict[int, str] = {}
    seen: set[int] = set()
    last = clock()

    def learn(tokens) -> None:
        for t in tokens:
            if t not in seen:
                seen.add(t)
                vocab[t] = piece_text(engine, t)

    for item in events:
        buf.append(item)
        ev = event_of(item)
        if isinstance(ev, TokenSampled):
            learn([ev.token])
            if ev.candidates:
                learn(t for t, _ in ev.candidates)
        elif isinstance(ev, Forked):
            learn([ev.parent_token, ev.child_token])
        if isinstance(ev, RunFinished) or (
            isinstance(ev, StepFinished) and clock() - last >= interval and ready()
        ):
            emit(tuple(buf), vocab)
            buf, vocab, last = [], {}, clock()
    if buf:
        emit(tuple(buf), vocab)


def pump_paced(events: Iterable, engine, post_batch: Callable[[tuple, dict[int, str], threading.Event], None]) -> None:
    """``pump`` for ``(run_id, event)`` pairs with one batch in flight: the UI sets the
    ``drawn`` event it receives with each batch, and the next batch waits for it."""
    drawn = threading.Event()
    drawn.set()

    def emit(evs: tuple, vocab: dict[int, str]) -> None:
        drawn.clear()
        post_batch(evs, vocab, drawn)

    pump(events, engine, emit, ready=drawn.is_set, event_of=lambda pair: pair[1])


"""The generation worker: one thread owns the Model and runs the requests' jobs in turn.

This is the server's only engine-facing module. A request becomes a ``Job``
(prompt text and Settings); ``Worker.submit`` admits it into a bounded queue
(``Busy`` when full, which the app answers with 429); the thread runs
``Model.stream`` for each job and hands its events to the request's asyncio
queue with ``loop.call_soon_threadsafe``. A job's ``cancel`` event stops its
run at the next decode step (a client that went away, a shutdown).

When the core offers ``Model.stream_many`` (several prompts in one batch),
only ``Worker._serve`` changes: the jobs and the queue stay as they are.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

from ..errors import EagerError
from ..events import RunFinished, RunStarted, StepFinished
from ..settings import Settings
from .chat import ChatFormat

log = logging.getLogger("eager_local.server")

#: Put on a job's queue after its last event.
END = object()


class Busy(Exception):
    """The queue is full: the request is refused (429), nothing was started."""


class ShuttingDown(Exception):
    """The server is stopping: the job was dropped before it ran."""


class Job:
    """One request's run: what to decode, and the asyncio queue its events go to."""

    def __init__(self, prompt: str, settings: Settings, *, stream: bool,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.prompt = prompt
        self.settings = settings
        self.stream = stream
        """Hand over every event (streaming); else only RunFinished."""
        self.cancel = threading.Event()
        """Set to stop the run at its next decode step."""
        self.items: asyncio.Queue = asyncio.Queue()
        self._loop = loop

    def put(self, *items) -> None:
        """From the worker thread: queue events, an error or END for the request (one wake-up)."""
        try:
            self._loop.call_soon_threadsafe(self._put_all, items)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.cancel.set()

    def _put_all(self, items) -> None:
        for item in items:
            self.items.put_nowait(item)


class Worker:
    """The thread that owns ``model`` and runs one job at a time, in arrival order."""

    def __init__(self, model, max_queue: int) -> None:
        self.model = model
        self.max_queue = max_queue
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting: list[Job] = []
        self._running: Job | None = None
        self._stopping = False
        self._closed = False
        self.finished = 0
        """Runs that ended on their own (counted for /health)."""
        self.cancelled = 0
        """Runs stopped early: a client that went away, or a shutdown."""
        self._thread = threading.Thread(target=self._serve, name="eager-generation", daemon=True)
        # the server formats every prompt itself: completions take text as given,
        # chat completions go through ChatFormat (docs/server.md)
        if hasattr(model.engine, "prompt_format"):
            model.engine.prompt_format = "raw"

    # the request side ------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Admit ``job`` or raise Busy (queue full) / ShuttingDown."""
        with self._lock:
            if self._stopping:
                raise ShuttingDown()
            busy = 1 if self._running is not None else 0
            if len(self._waiting) + busy > self.max_queue:
                raise Busy()
            self._waiting.append(job)
        self._jobs.put(job)

    def health(self) -> dict:
        """Jobs running and waiting, runs finished and cancelled, for /health."""
        with self._lock:
            running, waiting = (1 if self._running is not None else 0), len(self._waiting)
        return {"running": running, "waiting": waiting, "finished": self.finished,
                "cancelled": self.cancelled}

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the running and waiting jobs, end the thread, close the model."""
        self.cancel_all()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive() and not self._closed:
            self._closed = True
            self.model.close()

    def cancel_all(self) -> None:
        """Refuse new jobs and cancel every admitted one (shutdown)."""
        with self._lock:
            self._stopping = True
            for job in self._waiting + ([self._running] if self._running else []):
                job.cancel.set()

    # the worker thread -----------------------------------------------------
    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._waiting.remove(job)
                self._running = job
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running = None
                job.put(END)

    def _run(self, job: Job) -> None:
        """Run one job; its events, or the error that stopped it, go to its queue."""
        if job.cancel.is_set():
            job.put(ShuttingDown())  # dropped before it started: shutdown or a client gone
            return
        batch: list = []
        try:
            for ev in self.model.stream(job.prompt, job.settings, cancel=job.cancel):
                if job.stream or isinstance(ev, RunFinished):
                    batch.append(ev)
                # one hand-over per decode step, not per token
                if batch and isinstance(ev, (RunStarted, StepFinished, RunFinished)):
                    job.put(*batch)
                    batch.clear()
        except EagerError as e:
            job.put(*batch, e)
            return
        except Exception as e:  # a bug: log it, answer 500, keep serving
            log.exception("generation failed")
            job.put(*batch, e)
            return
        if job.cancel.is_set():
            self.cancelled += 1
        else:
            self.finished += 1


def chat_format(model) -> ChatFormat:
    """The model's chat template and the token texts templates use (engine-facing)."""
    engine = model.engine
    template = engine.chat_template() if hasattr(engine, "chat_template") else None
    if template:
        template = _compiles(template, model)
    if not template:
        return ChatFormat(None)
    bos = _token_text(engine, "tokenizer.ggml.bos_token_id")
    eos = _token_text(engine, "tokenizer.ggml.eos_token_id")
    return ChatFormat(template, bos, eos, strip_bos=bool(getattr(engine, "add_bos", False)))


def _compiles(template: str, model) -> str | None:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment().parse(template)
        return template
    except jinja2.TemplateError as e:
        log.warning("the chat template of %s does not compile (%s); chat uses a plain "
                    "transcript", model.info.path, e)
        return None


def _token_text(engine, key: str) -> str:
    value = engine.meta(key) if hasattr(engine, "meta") else None
    if value is None or not value.lstrip("-").isdigit() or int(value) < 0:
        return ""
    return engine.token_text(int(value))


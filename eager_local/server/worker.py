"""The generation worker: one thread owns the Model and decodes the requests' jobs together.

This is the server's only engine-facing module. A request becomes a ``Job``
(prompt text and Settings); ``Worker.submit`` admits it (``Busy`` when
``concurrency`` jobs are decoding and ``max_queue`` wait, which the app answers
with 429). The thread hands up to ``concurrency`` jobs at a time to one
``Scheduler`` (``Model.submit``), so their sequences share one batched decode per
step; a job arriving while others decode joins the batch at the next step. Each
job's events go to its request's asyncio queue with ``loop.call_soon_threadsafe``,
once per decode step. A job's ``cancel`` event stops its run at the next step (a
client that went away, a shutdown); a job cancelled before it started is dropped
(``ShuttingDown``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

from ..decoding.scheduler import for_concurrency
from ..errors import EagerError
from ..events import Notice, RunFinished, RunStarted, StepFinished
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
        self.pending: list = []
        """Events of the current decode step not handed over yet (worker thread only)."""
        self.dropped = False
        """Cancelled before its run started: its events are not handed over."""
        self.notices: list[str] = []
        """What the run said the client should know (``Notice``: the context may run out),
        gathered by the worker thread before it hands over RunFinished."""

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
    """The thread that owns ``model`` and decodes up to ``concurrency`` jobs together,
    taking them in arrival order."""

    def __init__(self, model, max_queue: int, concurrency: int = 1) -> None:
        self.model = model
        self.max_queue = max_queue
        self.concurrency = concurrency
        """Jobs decoded together at most (one batched decode per step)."""
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting: list[Job] = []
        """Admitted, not decoding yet."""
        self._running: list[Job] = []
        """Decoding (their run has started)."""
        self._by_run: dict[int, Job] = {}
        """The jobs handed to the scheduler and not finished, by run id (worker thread only)."""
        self._stopping = False
        self._closed = False
        self.finished = 0
        """Runs that ended on their own (counted for /health)."""
        self.cancelled = 0
        """Runs stopped early: a client that went away, or a shutdown."""
        self.peak_running = 0
        """Most jobs decoding together so far (for /health)."""
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
            if len(self._waiting) + len(self._running) >= self.concurrency + self.max_queue:
                raise Busy()
            self._waiting.append(job)
        self._jobs.put(job)

    def health(self) -> dict:
        """Jobs running and waiting, runs finished and cancelled, for /health."""
        with self._lock:
            running, waiting = len(self._running), len(self._waiting)
        return {"running": running, "waiting": waiting, "finished": self.finished,
                "cancelled": self.cancelled, "peak_running": self.peak_running}

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
            for job in self._waiting + self._running:
                job.cancel.set()

    # the worker thread -----------------------------------------------------
    def _serve(self) -> None:
        while True:
            job = self._jobs.get()  # idle: wait for the next job
            if job is None:
                return
            scheduler = for_concurrency(self.model.engine, self.concurrency)  # one per busy spell
            stop = not self._take(scheduler, job) or not self._take_more(scheduler)
            if self._by_run:
                stop = not self._decode(scheduler) or stop
            if stop:
                return

    def _take_more(self, scheduler) -> bool:
        """Hand queued jobs to ``scheduler`` while fewer than ``concurrency`` are in it and,
        once it decodes, it has admitted all it holds; False once the stop sentinel was taken."""
        while len(self._by_run) < self.concurrency and not (scheduler.active and scheduler.waiting):
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return True
            if not self._take(scheduler, job):
                return False
        return True

    def _take(self, scheduler, job: Job | None) -> bool:
        """Queue ``job``'s run on ``scheduler`` (or answer it: dropped, refused); False for
        the stop sentinel."""
        if job is None:
            return False
        if job.cancel.is_set():
            self._end(job, ShuttingDown())  # dropped before it started: shutdown or a client gone
            return True
        try:
            rid = self.model.submit(scheduler, job.prompt, job.settings, cancel=job.cancel)
        except EagerError as e:
            self._end(job, e)
            return True
        except Exception as e:  # a bug: log it, answer 500, keep serving
            log.exception("generation failed")
            self._end(job, e)
            return True
        self._by_run[rid] = job
        return True

    def _decode(self, scheduler) -> bool:
        """Decode until the scheduler has no run left, taking new jobs between steps; every
        job gets its events, or the error that stopped the batch. False once the stop
        sentinel was taken."""
        more = True
        try:
            for rid, ev in scheduler.events():
                self._hand_over(rid, ev)
                if more and isinstance(ev, (StepFinished, RunFinished)):
                    more = self._take_more(scheduler)
        except Exception as e:
            if not isinstance(e, EagerError):  # a bug: log it, answer 500, keep serving
                log.exception("generation failed")
            for job in list(self._by_run.values()):
                self._end(job, *job.pending, e)
            self._by_run.clear()
        return more

    def _hand_over(self, rid: int, ev) -> None:
        """Give ``ev`` to its job: once per decode step; at RunFinished the job ends."""
        job = self._by_run[rid]
        if isinstance(ev, RunStarted) and job.cancel.is_set():
            job.dropped = True  # cancelled while it waited for room: as if never started
        if job.dropped:
            if isinstance(ev, RunFinished):
                del self._by_run[rid]
                self._end(job, ShuttingDown())
            return
        if isinstance(ev, RunStarted):
            with self._lock:
                self._waiting.remove(job)
                self._running.append(job)
                self.peak_running = max(self.peak_running, len(self._running))
        if isinstance(ev, Notice):
            job.notices.append(ev.message)
        if job.stream or isinstance(ev, RunFinished):
            job.pending.append(ev)
        if job.pending and isinstance(ev, (RunStarted, StepFinished, RunFinished)):
            job.put(*job.pending)
            job.pending.clear()
        if isinstance(ev, RunFinished):
            del self._by_run[rid]
            if job.cancel.is_set():
                self.cancelled += 1
            else:
                self.finished += 1
            self._end(job)

    def _end(self, job: Job, *items) -> None:
        """The job is over: ``items`` (events, an error), then END."""
        with self._lock:
            for where in (self._waiting, self._running):
                if job in where:
                    where.remove(job)
        job.pending.clear()
        job.put(*items, END)


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

    if len(template) > 1 << 20:  # real templates are a few kB; the parse below runs here
        log.warning("the chat template of %s is %d characters long; chat uses a plain transcript",
                    model.info.path, len(template))
        return None
    try:
        ImmutableSandboxedEnvironment().parse(template)
        return template
    except (jinja2.TemplateError, RecursionError) as e:  # RecursionError: nested 100,000 deep
        log.warning("the chat template of %s does not compile (%s); chat uses a plain "
                    "transcript", model.info.path, e)
        return None


def _token_text(engine, key: str) -> str:
    value = engine.meta(key) if hasattr(engine, "meta") else None
    if value is None or not value.lstrip("-").isdigit() or int(value) < 0:
        return ""
    return engine.token_text(int(value))


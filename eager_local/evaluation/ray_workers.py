"""Evaluation on a Ray cluster: a pool of actors, each loading the model once.

The driver (``eager eval --ray``) keeps the run file: the runner writes each record
as it arrives, exactly as in a local run. Each actor is handed ``per_worker`` items
at a time (decoded together by its scheduler; 1 by default) and the next ones as
soon as it returns their records, so a fast worker takes more.

The model file: every worker opens the same alias or path on its own node (a
shared filesystem, or a copy at the same path everywhere); the workers must agree
on the file's SHA-256. A worker that cannot open it stops the run with one line.

Faults: a worker that dies (process killed, node lost) has its unfinished items
handed to the others, and ``retried`` counts them; records are only taken from
tasks that returned, so no prompt is lost or written twice. When the cancel event
is set (Ctrl-C), every worker is killed and the records already written stay.

``ray`` is imported inside the functions: the core imports without it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from ..errors import EagerError, ModelError, RayError, SettingsError
from .concurrent import finished
from .item_work import ItemWork, Task, WorkSpec

WAIT_S = 0.25
"""How often the driver looks at its cancel event while it waits for workers."""


class EvalWorker:
    """What runs inside one Ray actor (wrapped with ``ray.remote`` when a pool starts)."""

    def __init__(self, model: str | None, options: dict) -> None:
        self.name, self.options = model, options
        self.model = None
        self.work: ItemWork | None = None

    def load(self) -> dict:
        """Load the model; ``{"node", "info"}``, or ``{"node", "error"}`` as one line."""
        import socket

        from ..api import load

        node = socket.gethostname()
        try:
            self.model = load(self.name, **self.options)
        except EagerError as e:
            return {"node": node, "error": e.one_line()}
        except Exception as e:  # noqa: BLE001 (reported as one line on the driver)
            return {"node": node, "error": f"{type(e).__name__}: {e}"}
        return {"node": node, "info": self.model.info}

    def settings(self, s):
        return self.model.settings(s)

    def start(self, spec: WorkSpec) -> None:
        self.work = ItemWork(spec, self.model)

    def do(self, tasks: list[Task], plan, concurrency: int) -> list:
        """The records of ``tasks``, ``concurrency`` prompts decoding together (the scheduler)."""
        if concurrency == 1 and len(tasks) == 1:
            return [self.work.one(tasks[0], plan)]
        work = lambda t: self.work.do(t, plan)  # noqa: E731
        return [rec for _, rec in finished(self.model, tasks, work, concurrency, self.work.cancel)]


#: What to do when no cluster answers (the end of every refusal to join one).
NO_CLUSTER = ("start one with `ray start --head` and pass its address (host:6379), "
              "or use `--ray local` for a new cluster on this machine")


def connect(address: str) -> bool:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to;
    ``local``: a new one on this machine). False when this process was already in one."""
    import ray

    if ray.is_initialized():
        return False
    check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as e:  # noqa: BLE001 (ConnectionError, ValueError, RuntimeError ...)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise RayError(f"cannot join a Ray cluster at {address!r} ({first}): {NO_CLUSTER}") from None
    return True


def check_reachable(address: str) -> None:
    """A ``host:port`` where nothing answers is refused at once (Ray itself retries for
    minutes); ``auto``, ``local`` and ``ray://`` addresses are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "//" in address:
        return
    if not 0 < int(port) <= 65535 or len(address) > 1000:
        raise RayError(f"--ray {address[:100]!r}: the port must be between 1 and 65535 (host:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (OSError, ValueError, UnicodeError) as e:
        raise RayError(f"cannot join a Ray cluster at {address!r}: nothing answers there "
                       f"({getattr(e, 'strerror', None) or e}); {NO_CLUSTER}") from None


def worker_count(workers: int | None, cpus: int, gpus: float) -> int:
    """``workers``, checked against the cluster's resources; by default as many as fit."""
    import ray

    have = ray.cluster_resources()
    fit = int(have.get("CPU", 0) // cpus)
    if gpus > 0:
        fit = min(fit, int(have.get("GPU", 0) // gpus))
    n = fit if workers is None else workers
    if n < 1 or n > fit:
        raise SettingsError(
            f"--workers {n} × ({cpus} CPU, {gpus:g} GPU) does not fit the Ray cluster "
            f"({have.get('CPU', 0):g} CPUs, {have.get('GPU', 0):g} GPUs): ask for fewer workers or resources"
        )
    return n


class RayWorkers:
    """A pool of ``EvalWorker`` actors; to the runner it is both the model (``info``,
    ``settings``) and the workers (``start``, ``records``)."""

    def __init__(self, actors: list, loaded: list[dict], joined: bool) -> None:
        self.actors = list(actors)
        """The live actors."""
        self.started = len(actors)
        self.nodes = sorted({d["node"] for d in loaded})
        self.info = loaded[0]["info"]
        self.joined = joined
        self.retried = 0
        """Prompts handed to another worker after theirs died."""
        self.died = 0
        self.notes: list[str] = []
        """One line per worker lost, for the face to show."""
        self._plan_ref = None
        self.per_worker = 1
        """Prompts handed to a worker at once and decoded together by its scheduler."""

    @classmethod
    def open(cls, address: str, model: str | None, options: dict, *, workers: int | None = None,
             cpus: int = 1, gpus: float = 0.0, per_worker: int = 1,
             cancel: threading.Event | None = None) -> "RayWorkers":
        """Join the cluster, start the actors and load the model on each."""
        import ray

        joined = connect(address)
        actors = []
        try:
            n = worker_count(workers, cpus, gpus)
            actor = ray.remote(EvalWorker).options(num_cpus=cpus, num_gpus=gpus, max_restarts=0)
            actors = [actor.remote(model, options) for _ in range(n)]
            loaded = wait_all([a.load.remote() for a in actors], cancel)
            check_loaded(loaded, model)
        except BaseException:
            for a in actors:
                ray.kill(a, no_restart=True)
            if joined:
                ray.shutdown()
            raise
        pool = cls(actors, loaded, joined)
        pool.per_worker = per_worker
        return pool

    def settings(self, s):
        """The model's settings for ``s`` (its stops, its branch region), from a live worker."""
        import ray

        for actor in list(self.actors):
            try:
                return ray.get(actor.settings.remote(s))
            except ray.exceptions.RayActorError as e:
                self._lose(actor, None, None, e)
        raise self._all_died()

    def _all_died(self) -> RayError:
        return RayError(f"every Ray worker died ({self.died} of {self.started}); the records written "
                        "so far are kept: rerun with --resume")

    def start(self, spec: WorkSpec, cancel: threading.Event) -> None:
        import ray

        ref = ray.put(spec)
        calls = {a: a.start.remote(ref) for a in self.actors}
        wait_done(list(calls.values()), cancel)
        for actor, call in calls.items():  # a worker lost since the last run is left out
            try:
                ray.get(call)
            except ray.exceptions.RayActorError as e:
                self._lose(actor, None, None, e)
        if not self.actors:
            raise self._all_died()

    def records(self, tasks: list[Task], plan, cancel: threading.Event):
        """Yield each task's record as it arrives; stop every worker when ``cancel`` is set."""
        import ray

        queue, running = deque(tasks), {}
        self._plan_ref = ray.put(plan)
        idle = deque(self.actors)
        done = False
        try:
            while queue or running:
                self._hand_out(queue, running, idle)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
                if cancel.is_set():
                    return
                for ref in ready:
                    recs = self._collect(ref, running, queue, idle)
                    if recs is not None:
                        self._hand_out(queue, running, idle)  # the next items before these are written
                        yield from recs
            done = True
        finally:
            if not done:
                self.stop()

    def _hand_out(self, queue: deque, running: dict, idle: deque) -> None:
        while queue and idle:
            actor = idle.popleft()
            chunk = [queue.popleft() for _ in range(min(self.per_worker, len(queue)))]
            running[actor.do.remote(chunk, self._plan_ref, self.per_worker)] = (actor, chunk)
        if queue and not running:
            raise self._all_died()

    def _collect(self, ref, running: dict, queue: deque, idle: deque):
        """The records of a finished call, or None when its worker died (its tasks go back)."""
        import ray

        actor, chunk = running.pop(ref)
        try:
            recs = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
            # the worker died, or its node did after the record was made but before it came here
            self._lose(actor, chunk, queue, e)
            return None
        except ray.exceptions.RayTaskError as e:
            if isinstance(e.cause, EagerError):
                raise e.cause from None
            raise
        idle.append(actor)
        return recs

    def _lose(self, actor, chunk: list[Task] | None, queue: deque | None, why) -> None:
        """Drop a dead worker; its unfinished tasks (if any) go back to the front of ``queue``."""
        import ray

        for task in reversed(chunk or []):
            queue.appendleft(task)
            self.retried += 1
        if actor in self.actors:
            self.actors.remove(actor)
            self.died += 1
        first = (str(why).strip().splitlines() or [type(why).__name__])[0]
        where = f"; its {len(chunk)} prompts went to the others" if chunk else ""
        self.notes.append(f"a Ray worker died ({first[:120]}){where}")
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 (already gone)
            pass

    def stop(self) -> None:
        """Kill every worker (their unfinished items are simply not written)."""
        import ray

        for a in self.actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 (already gone)
                pass
        self.actors = []

    def close(self) -> None:
        import ray

        self.stop()
        if self.joined:
            ray.shutdown()
            self.joined = False


def wait_done(refs: list, cancel: threading.Event | None) -> None:
    """Until every ref is done (value or error); ``Interrupted`` when ``cancel`` is set first."""
    import ray

    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=WAIT_S)
        if cancel is not None and cancel.is_set():
            from .runner import Interrupted

            raise Interrupted("interrupted while the Ray workers were starting")


def wait_all(refs: list, cancel: threading.Event | None) -> list:
    """``ray.get`` of every ref (see ``wait_done``); RayError when a worker died."""
    import ray

    wait_done(refs, cancel)
    try:
        return ray.get(refs)
    except ray.exceptions.RayActorError as e:
        raise RayError(f"a Ray worker died while starting: {str(e).strip().splitlines()[0]}") from None


def check_loaded(loaded: list[dict], model: str | None) -> None:
    """One line when a worker could not open the model, or two hold different files."""
    name = model or "the default model"
    for d in loaded:
        if "error" in d:
            raise ModelError(f"a Ray worker on {d['node']} cannot open {name}: {d['error']} "
                             "(every node needs the model at the same path)")
    shas = {d["info"].sha256: d["node"] for d in loaded}
    if len(shas) > 1:
        (a, na), (b, nb) = list(shas.items())[:2]
        raise ModelError(f"the Ray workers hold different files for {name}: {na} has sha256 {a[:12]}…, "
                         f"{nb} has {b[:12]}…: put the same file at the same path on every node")

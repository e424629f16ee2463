"""One line of live counters: state, speed, sequences, KV cells, tokens (and, once a run
has finished, the prompt tokens it found in the prefix cache)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from eager_local.view.live_run import LiveRun


class StatsBar(Widget):
    """What the run is doing now (or what it cost, once finished)."""

    DEFAULT_CSS = """
    StatsBar { height: 1; padding: 0 1; background: $panel; }
    .-narrow StatsBar { height: 2; }
    """

    def __init__(self, show_rates: bool = True, **kw) -> None:
        super().__init__(**kw)
        self.show_rates = show_rates
        """False in snapshot tests: timings would make every screenshot differ."""
        self.run: LiveRun | None = None
        self.state = "idle"

    def show(self, run: LiveRun | None, state: str) -> None:
        self.run, self.state = run, state
        self.refresh()  # fixed height: no layout pass per batch

    def render(self) -> Text:
        t = Text(no_wrap=False, overflow="fold")
        colour = {"running": "bold green", "loading": "bold yellow", "stopping": "bold red"}
        t.append(f"{self.state}", style=colour.get(self.state, "bold"))
        run = self.run
        if run is None:
            t.append("  ·  type a prompt and press F5", style="dim")
            return t
        c = run.counters
        cap = run.settings.max_seqs
        if self.show_rates and c.elapsed_s > 0:
            t.append(f"  {c.generated_tokens / c.elapsed_s:.1f} tok/s  {c.elapsed_s:.1f} s")
        live = sum(1 for s in run.seqs if s.finish_reason is None) if not run.finished else 0
        done = sum(1 for s in run.seqs if s.finish_reason is not None)
        t.append(f"  seqs {live} live / {done} done / cap {cap}")
        kv = f"  KV {c.kv_cells}" + (f"/{run.n_ctx}" if run.n_ctx else "")
        t.append(kv + (" peak" if run.finished else ""))
        t.append(f"  tokens {c.generated_tokens} gen / {c.decoded_tokens} dec")
        cached = run.result.stats.cached_prompt_tokens if run.result is not None else 0
        if cached:  # the prompt tokens copied from the prefix cache instead of decoded
            t.append(f"  prompt {run.prompt_tokens:,} · {cached:,} cached")
        return t

"""The terminal view of ``eager run``: forks as they happen, each sequence
coloured by entropy when it finishes, then a summary line."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..events import Forked, Notice, RunFinished, RunStarted, SequenceFinished, StepFinished
from ..result import ModelInfo, RunResult
from ..view.palette import entropy_hex
from .tree_view import FORK_MARK, compact_tree


def sequence_text(seq, theta: float, k: int, fork_positions: set[int], dim_prefix: bool = True) -> Text:
    """A sequence's tokens coloured by entropy; fork tokens underlined and marked."""
    t = Text()
    pieces = seq.pieces or ()
    total = 0
    for i, piece in enumerate(pieces):
        if total >= len(seq.text):
            break
        piece = piece[: len(seq.text) - total]  # the text may be cut at a stop string
        total += len(piece)
        style = entropy_hex(seq.entropies[i], theta, k)
        if dim_prefix and i < seq.fork_pos:
            style += " dim"
        if i in fork_positions:
            t.append(FORK_MARK, style="bold magenta")
            style += " underline"
        t.append(piece, style=style)
    return t


def summary_line(result: RunResult) -> str:
    st = result.stats
    rate = st.generated_tokens / st.wall_s if st.wall_s > 0 else 0.0
    return (
        f"{st.n_sequences} sequences · {st.generated_tokens} tokens generated "
        f"({st.decoded_tokens} decoded, prompt {st.prompt_tokens}) · {st.wall_s:.2f} s · "
        f"{rate:.1f} tok/s · peak KV {st.peak_kv_cells} cells"
    )


class _Console(Console):
    """rich's Console, but a closed pipe (``eager run | head``) is a BrokenPipeError that
    the CLI answers like ``--json``'s (exit 0), not rich's SystemExit(1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def stream_to_terminal(events, info: ModelInfo | None, console: Console | None = None,
                       full: bool = False) -> RunResult | None:
    """Show a run as it happens; at the end the compact tree (``full``: every token coloured)."""
    console = console or _Console(highlight=False)
    result = None
    theta, k = 0.0, 20
    forks_at: dict[int, set[int]] = {}
    with Live(Text(""), console=console, transient=True, refresh_per_second=8) as live:
        for ev in events:
            if isinstance(ev, RunStarted):
                s = ev.settings
                theta, k = s.theta, s.top_k_entropy
                name = (info.alias or info.path) if info else "model"
                params = f"θ={s.theta:g} M={s.max_seqs}" if s.method == "eager" else (
                    f"M={s.max_seqs}" if s.method == "parallel" else "")
                console.print(Text(
                    f"{name} · {s.method} {params} τ={s.temperature:g} top-p={s.top_p:g} "
                    f"K={s.top_k_entropy} T={s.max_new_tokens} seed={s.seed} · "
                    f"prompt {ev.prompt_tokens} tokens · context {ev.n_ctx} cells", style="bold"))
            elif isinstance(ev, Notice):
                console.print(Text(f"note: {ev.message}", style="yellow"))
            elif isinstance(ev, Forked):
                forks_at.setdefault(ev.parent, set()).add(ev.pos)
                if not full:  # the compact view says where each sequence forked
                    continue
                console.print(Text.assemble(
                    (f"{FORK_MARK} ", "bold magenta"),
                    f"seq {ev.parent} → seq {ev.child} at token {ev.pos} ",
                    (f"(H {ev.entropy:.2f})", entropy_hex(ev.entropy, theta, k)),
                    ": ", (repr(ev.parent_piece), "bold"), " | ", (repr(ev.child_piece), "bold"),
                ))
            elif isinstance(ev, StepFinished):
                rate = ev.generated_tokens / ev.elapsed_s if ev.elapsed_s > 0 else 0.0
                live.update(Text(
                    f"step {ev.step} · live {ev.live} · finished {ev.finished} · created {ev.created} · "
                    f"KV {ev.kv_cells} · {ev.generated_tokens} tokens · {rate:.0f} tok/s", style="dim"))
            elif isinstance(ev, SequenceFinished):
                pass  # printed from the result, which has every token's entropy
            elif isinstance(ev, RunFinished):
                result = ev.result
    if result is None:
        return None
    if not full:
        for line in compact_tree(result, info.think if info else None, console.width):
            console.print(line, overflow="ellipsis", no_wrap=True)
        console.print(Text(summary_line(result), style="bold"))
        return result
    for seq in result.sequences:
        origin = "root" if seq.parent is None else f"from seq {seq.parent} at token {seq.fork_pos}"
        console.print(Text(
            f"── seq {seq.id} · {origin} · {seq.finish_reason} · {len(seq.tokens)} tokens",
            style="bold cyan"))
        console.print(sequence_text(seq, theta, k, forks_at.get(seq.id, set())))
    console.print(Text(summary_line(result), style="bold"))
    return result

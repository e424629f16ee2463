"""The sequence tree widget, live: forks inside, sequences (with finish reason) at the leaves."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from eager_local.method.confidence import sequence_confidence
from eager_local.view.palette import entropy_hex
from eager_local.view.pruned import PRUNE_MARK, prune_note

from eager_local.view import tree_model
from eager_local.view.live_run import LiveRun

REASON_MARK = {None: "◌", "eog": "●", "stop": "■", "length": "◆", "context_full": "▣", "cancelled": "✕",
               "pruned": PRUNE_MARK, "consensus": "◇"}
FORK = "⑂"


@dataclass(frozen=True)
class NodeRef:
    """What a tree node stands for: a sequence, or token ``pos`` of ``seq`` (a fork)."""

    seq: int
    pos: int | None = None


def leaf_label(run: LiveRun, seq: int, selected: bool, confidence: bool = False) -> Text:
    q = run.seqs[seq]
    reason = q.finish_reason
    t = Text()
    mark_style = "green" if reason is None else "bold red" if reason == "pruned" else ""
    t.append(REASON_MARK.get(reason, "●") + " ", style=mark_style)
    t.append(f"seq {seq}", style="bold reverse" if selected else "bold")
    t.append(f" {reason or 'live'} · {len(q.tokens)} tok", style="dim" if reason else "green")
    if reason == "pruned":
        s = run.result.stats.prune_threshold if run.result is not None else None
        t.append(f" · {prune_note(q.entropies, run.settings, s)}", style="red")
    if seq in run.verdicts:
        answer, right = run.verdicts[seq]
        t.append(" ✓ " if right else " ✗ ", style="bold green" if right else "bold red")
        t.append("—" if answer is None else answer)
    if confidence and reason is not None:
        c = sequence_confidence(q.entropies, run.settings.top_k_entropy)
        t.append(f" · conf {c.mean:.2f} low {c.lowest_window:.2f}", style="cyan")
    return t


def fork_label(run: LiveRun, f) -> Text:
    s = run.settings
    t = Text()
    t.append(FORK + " ", style="bold magenta")
    t.append(f"@{f.pos} ")
    if f.fork.manual:
        t.append("by hand ", style="bold yellow")
    t.append(f"H {f.entropy:.2f}", style=entropy_hex(f.entropy, s.theta, s.top_k_entropy))
    t.append(f" {f.parent_piece!r}|{f.child_piece!r}")
    return t


class SequenceTreeView(Tree[NodeRef]):
    """Rebuilt when a fork happens; leaf labels updated as tokens arrive."""

    DEFAULT_CSS = """
    SequenceTreeView { width: 1fr; min-width: 24; }
    """

    class Chosen(Message):
        """The user moved to a node: show ``seq``, at ``pos`` if it is a fork."""

        def __init__(self, view: "SequenceTreeView", ref: NodeRef) -> None:
            super().__init__()
            self.view = view
            """The tree the user moved in (there are two when runs are compared)."""
            self.ref = ref

    def __init__(self, **kw) -> None:
        super().__init__("prompt", **kw)
        self.show_root = True
        self.guide_depth = 2
        self._leaves: dict[int, TreeNode[NodeRef]] = {}
        self._selected: int | None = None
        self.show_confidence = False
        """Leaves show each finished sequence's confidence (mean and lowest window; key K)."""

    def rebuild(self, run: LiveRun | None, selected: int | None) -> None:
        """Draw the whole tree of ``run`` and put the cursor on ``selected``'s leaf."""
        self.clear()
        self._leaves = {}
        self._selected = selected
        if run is None:
            self.root.set_label("prompt")
            return
        self.root.set_label(Text(f"prompt · {run.prompt_tokens} tokens", style="bold"))
        for node in tree_model.build(run):
            self._add(self.root, run, node)
        self.root.expand_all()
        if selected in self._leaves:
            target = self._leaves[selected]
            self.call_after_refresh(self.move_cursor, target)

    def _add(self, parent: TreeNode[NodeRef], run: LiveRun, node) -> None:
        if isinstance(node, tree_model.Leaf):
            self._leaves[node.seq] = parent.add_leaf(
                leaf_label(run, node.seq, node.seq == self._selected, self.show_confidence), NodeRef(node.seq))
            return
        f = node.fork
        fork = parent.add(fork_label(run, f), NodeRef(f.parent, f.pos), expand=True)
        self._add(fork, run, node.kept)
        self._add(fork, run, node.taken)

    def update_leaves(self, run: LiveRun, seqs, selected: int | None) -> None:
        """Relabel the leaves of ``seqs`` (token counts, finish reasons, selection)."""
        changed = set(seqs)
        if selected != self._selected:
            changed |= {s for s in (selected, self._selected) if s is not None}
            self._selected = selected
        for s in changed:
            node = self._leaves.get(s)
            if node is not None:
                node.set_label(leaf_label(run, s, s == selected, self.show_confidence))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        if self.has_focus and event.node.data is not None:
            self.post_message(self.Chosen(self, event.node.data))

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.Chosen(self, event.node.data))

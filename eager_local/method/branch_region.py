"""Where a sequence may fork: the branch-region rule for reasoning models.

A reasoning model writes its thoughts between two markers (``<think>`` …
``</think>``) and its answer after the end marker. EAGER's reference code only
branches while the model thinks; ``--branch-region`` chooses:

- ``think``: fork only before the end marker has been generated,
- ``answer``: fork only after it,
- ``all``: anywhere (the only choice for a model without markers).

``auto`` (the default of ``Settings``) is ``think`` for a model with markers and
``all`` otherwise. Pure functions of text; no model, no I/O.
"""

from __future__ import annotations

from ..errors import SettingsError

REGIONS = ("think", "answer", "all")
"""The regions a user can name."""
AUTO = "auto"
"""The default: think for reasoning models, all otherwise."""


def resolve(region: str, think: tuple[str, ...] | None) -> str:
    """The effective region for a model whose think markers are ``think`` (None/() = none)."""
    if region == AUTO:
        return "think" if think else "all"
    if region not in REGIONS:
        raise SettingsError(f"⟨branch_region⟩ must be one of {', '.join(REGIONS)} (got {region!r})")
    if region != "all" and not think:
        raise SettingsError(
            f"⟨branch_region⟩ {region} needs a reasoning model (think markers); this model has none: "
            'use all, or set think = ["<think>", "</think>"] for it in models.toml'
        )
    return region


def may_fork(region: str, text: str, think: tuple[str, ...] | None) -> bool:
    """May a sequence whose generated text so far is ``text`` fork at its next token?

    The next token is still inside the think block while the end marker is not
    in ``text``; a fork at the end marker itself (think on or stop) is a think fork.
    """
    if region == "all" or not think:
        return True
    thinking = think[1] not in text
    return not thinking if region == "answer" else thinking  # think (or auto with markers)


def keep_points(points, sequences, region: str, think: tuple[str, ...] | None) -> list[tuple[int, int]]:
    """The missed fork points ``(sequence id, token index)`` where ``region`` allows a fork,
    judged on the text each sequence had before that token (``sequences`` by id)."""
    return [(p, i) for p, i in points
            if may_fork(region, "".join((sequences[p].pieces or ())[:i]), think)]

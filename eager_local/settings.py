"""Generation settings: every choice the method leaves open, as a value."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from .errors import SettingsError

METHODS = ("eager", "parallel", "greedy")

#: What ends a live sequence early: nothing, or its confidence (DeepConf-online).
PRUNE_RULES = ("none", "confidence")

#: llama.cpp refuses sequence ids at or above this (LLAMA_MAX_SEQ).
MAX_SEQUENCES = 256

#: llama.cpp's thread pool holds at most this many threads (GGML_MAX_N_THREADS);
#: more crash it (100000 threads: a segfault; more: std::bad_alloc).
MAX_THREADS = 512


@dataclass(frozen=True)
class Settings:
    """How one prompt is decoded. Defaults follow the paper (README.md, "How EAGER is done here")."""

    method: str = "eager"
    """``eager`` (EAGer-init), ``parallel`` (full parallel sampling) or ``greedy``."""
    theta: float = 2.0
    """Entropy threshold θ in nats: a sequence forks where H ≥ θ."""
    max_seqs: int = 8
    """Cap M: sequences created for the prompt (EAGER) or sampled (parallel)."""
    temperature: float = 0.6
    """Softmax temperature τ; the entropy is measured after it, before top-p."""
    top_p: float = 0.95
    """Nucleus mass kept when sampling."""
    top_k_entropy: int = 20
    """K: the entropy is taken over the K most probable tokens, renormalised."""
    max_new_tokens: int = 256
    """T: a sequence finishes after this many generated tokens."""
    seed: int = 0
    """Seed of the sampling generator; same seed and settings, same sequences."""
    stop: tuple[str, ...] = ()
    """Stop strings: a sequence finishes when its text contains one."""
    monitor_window: int = 1000
    """Generated tokens without a fork after which a sequence stops being monitored."""
    record_candidates: int = 0
    """Keep this many top candidates (token, probability) per token, for inspection."""
    branch_region: str = "auto"
    """Where EAGER may fork: ``think`` (before a reasoning model's think end marker),
    ``answer`` (after it), ``all``; ``auto``: think for reasoning models, all otherwise."""

    prune: str = "none"
    """``confidence``: a live sequence whose lowest-window confidence falls below the
    threshold s ends as ``pruned`` (DeepConf-online); ``none``: nothing ends early."""
    prune_window: int = 16
    """W: tokens of the sliding window whose mean confidence is compared with s."""
    prune_keep: float = 90.0
    """Percent of the warm-up sequences whose lowest-window confidence is at or above s:
    s is their (100 − keep)-th percentile (90 keeps the top 90%; DeepConf-low uses 10)."""
    prune_threshold: float | None = None
    """A fixed s in nats instead of the one learned from the warm-up (None: learned)."""
    prune_warmup: int = 4
    """N_init: the first finished sequences of a prompt, never pruned; they set s."""
    stop_on_consensus: float | None = None
    """Stop the prompt once the confidence-weighted vote of its finished sequences gives
    one answer this share (0.95); None: never (needs ``prune``)."""

    def __post_init__(self) -> None:
        # a lone string is one stop string, not one per character
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif isinstance(self.stop, list):
            object.__setattr__(self, "stop", tuple(self.stop))

    def validate(self) -> "Settings":
        """Raise ``SettingsError`` naming the first bad value; return self."""
        if self.method not in METHODS:
            raise SettingsError(
                f"unknown method {self.method!r}: use one of {', '.join(METHODS)}"
            )
        if not _finite(self.theta) or self.theta < 0:
            raise SettingsError(f"⟨theta⟩ must be a number ≥ 0 (got {self.theta}); try 1.0")
        if not isinstance(self.max_seqs, int) or not 1 <= self.max_seqs <= MAX_SEQUENCES:
            raise SettingsError(
                f"⟨max_seqs⟩ must be an integer between 1 and {MAX_SEQUENCES} (got {self.max_seqs}); "
                "llama.cpp holds at most 256 sequences"
            )
        if self.method != "greedy" and _number(self.temperature) and not _finite(self.temperature):
            raise SettingsError(f"⟨temperature⟩ must be a finite number > 0 (got {self.temperature}); 0.6 is the usual value")
        if self.method != "greedy" and (not _finite(self.temperature) or self.temperature <= 0):
            raise SettingsError(
                f"⟨temperature⟩ must be > 0 for sampling (got {self.temperature}); "
                "use ⟨method⟩ greedy for argmax decoding"
            )
        if not _finite(self.top_p) or not 0 < self.top_p <= 1:
            raise SettingsError(f"⟨top_p⟩ must be in (0, 1] (got {self.top_p}); 0.95 is the usual value")
        if not isinstance(self.top_k_entropy, int) or self.top_k_entropy < 2:
            raise SettingsError(
                f"⟨top_k_entropy⟩ must be an integer ≥ 2 (got {self.top_k_entropy}); the paper uses 20"
            )
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise SettingsError(f"⟨max_new_tokens⟩ must be an integer ≥ 1 (got {self.max_new_tokens})")
        if not isinstance(self.monitor_window, int) or self.monitor_window < 1:
            raise SettingsError(f"⟨monitor_window⟩ must be an integer ≥ 1 (got {self.monitor_window}); the paper uses 1000")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise SettingsError(f"⟨seed⟩ must be an integer ≥ 0 (got {self.seed})")
        if any(not isinstance(s, str) or s == "" for s in self.stop):
            raise SettingsError("stop strings must be non-empty text: drop the empty ⟨stop⟩")
        if any(not _utf8(s) for s in self.stop):
            raise SettingsError("stop strings must be valid UTF-8 text: one holds bytes that are not")
        if self.branch_region not in ("auto", "think", "answer", "all"):
            raise SettingsError(f"⟨branch_region⟩ must be think, answer or all (got {self.branch_region!r})")
        if not isinstance(self.record_candidates, int) or self.record_candidates < 0:
            raise SettingsError(f"⟨record_candidates⟩ must be an integer ≥ 0 (got {self.record_candidates})")
        _check_prune(self)
        return self

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed (and validated)."""
        return replace(self, **changes).validate()

    def with_stops(self, more) -> "Settings":
        """A copy with the stop strings ``more`` added after its own (no duplicates), validated."""
        return self.with_(stop=tuple(dict.fromkeys(tuple(self.stop) + tuple(more))))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


def _check_prune(s: Settings) -> None:
    """The pruning settings (checked only with ``prune`` on, except the rule's name)."""
    if s.prune not in PRUNE_RULES:
        raise SettingsError(f"⟨prune⟩ must be none or confidence (got {s.prune!r})")
    if s.prune == "none":
        if s.stop_on_consensus is not None:
            raise SettingsError("⟨stop_on_consensus⟩ needs ⟨prune⟩ confidence: give both or neither")
        return
    if s.method == "greedy":
        raise SettingsError("⟨prune⟩ needs sampled sequences: use ⟨method⟩ eager or parallel, or leave ⟨prune⟩ out")
    if not _finite(s.prune_keep) or not 0 < s.prune_keep <= 100:
        raise SettingsError(f"⟨prune_keep⟩ must be a percent in (0, 100] (got {s.prune_keep}); 90 keeps the top 90%")
    if not isinstance(s.prune_window, int) or isinstance(s.prune_window, bool) or s.prune_window < 1:
        raise SettingsError(f"⟨prune_window⟩ must be an integer ≥ 1 (got {s.prune_window}); 16 is the usual value")
    if s.prune_window > s.max_new_tokens:
        raise SettingsError(
            f"⟨prune_window⟩ {s.prune_window} is longer than ⟨max_new_tokens⟩ {s.max_new_tokens}: "
            "no sequence could fill the window; lower it"
        )
    if not isinstance(s.prune_warmup, int) or isinstance(s.prune_warmup, bool) or s.prune_warmup < 1:
        raise SettingsError(f"⟨prune_warmup⟩ must be an integer ≥ 1 (got {s.prune_warmup}); 4 is the usual value")
    if s.prune_warmup >= s.max_seqs:
        raise SettingsError(
            f"⟨prune_warmup⟩ {s.prune_warmup} leaves nothing to prune with ⟨max_seqs⟩ {s.max_seqs}: "
            "give fewer warm-up sequences than M"
        )
    if s.prune_threshold is not None and (not _finite(s.prune_threshold) or s.prune_threshold < 0):
        raise SettingsError(f"⟨prune_threshold⟩ must be a number ≥ 0 in nats (got {s.prune_threshold})")
    c = s.stop_on_consensus
    if c is not None and (not _finite(c) or not 0 < c <= 1):
        raise SettingsError(f"⟨stop_on_consensus⟩ must be a share in (0, 1] (got {c}); try 0.95")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes: non-UTF-8 bytes in a command-line argument
        return False
    return True


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


__all__ = ["Settings", "METHODS", "PRUNE_RULES", "MAX_SEQUENCES", "MAX_THREADS"]

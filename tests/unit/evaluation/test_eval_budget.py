"""Budget reallocation (the paper's §4; docs/evaluation.md) as a pure function."""

import pytest

from eager_local.method.budget import Outcome, reallocate


def test_adapt_gives_the_surplus_to_saturating_prompts():
    outs = [Outcome("a", 8), Outcome("b", 2), Outcome("c", 8), Outcome("d", 1)]
    plan = reallocate("eager-adapt", outs, 8, 1.0)
    # surplus = 32 - 19 = 13 over 2 saturating prompts: 6.5 each → 7 and 6
    assert plan.surplus == 13 and plan.selected == 2 and plan.extra_per_prompt == 6.5
    assert [(e.id, e.action, e.cap, e.max_seqs, e.theta) for e in plan.extras] == [
        ("a", "continue", 15, 15, 1.0), ("c", "continue", 14, 14, 1.0)]
    assert sum(e.cap - 8 for e in plan.extras) == plan.surplus


def test_extra_budget_is_capped_at_2M():
    outs = [Outcome("a", 4)] + [Outcome(str(i), 1) for i in range(20)]
    plan = reallocate("eager-adapt", outs, 4, 2.0)
    assert plan.extra_per_prompt == 8 and plan.extras[0].cap == 12


def test_full_uses_labels_continue_and_rerun():
    outs = [Outcome("sat-wrong", 4, False), Outcome("sat-right", 4, True),
            Outcome("low-wrong", 2, False), Outcome("low-right", 1, True)]
    plan = reallocate("eager-full", outs, 4, 1.5)
    assert plan.surplus == 5 and plan.selected == 2
    got = {e.id: (e.action, e.cap, e.max_seqs, e.theta) for e in plan.extras}
    # b = 2.5: the first selected prompt gets 3, the second 2
    assert got == {"sat-wrong": ("continue", 7, 7, 1.5), "low-wrong": ("rerun", 6, 4, 1.2)}


def test_nothing_to_give():
    assert reallocate("eager-adapt", [Outcome("a", 4), Outcome("b", 4)], 4, 1.0).extras == ()
    assert reallocate("eager-adapt", [Outcome("a", 1), Outcome("b", 2)], 4, 1.0).extras == ()
    plan = reallocate("eager-full", [Outcome("a", 1, True)], 4, 1.0)
    assert plan.selected == 0 and plan.extras == ()
    with pytest.raises(ValueError):
        reallocate("eager", [], 4, 1.0)

"""θ what-if on recorded runs (tiny GGUF, real llama.cpp): at the run's own θ the
what-if fork points are exactly the forks it made plus the forks the cap M missed,
and the sequences it predicts are the sequences the run has."""

import pytest

from eager_local.decoding.continuation import missed_forks
from eager_local.decoding.controller import collect, generate
from eager_local.method.what_if import what_if
from eager_local.settings import Settings


# (0.3, 3), (0.6, 8): the cap stops forks (missed > 0); (0.8, 32), (0.9, 32): it does not; (2.5, 4): no fork
@pytest.mark.parametrize("theta, cap", [(0.3, 3), (0.6, 8), (0.8, 32), (0.9, 32), (2.5, 4)])
def test_what_if_at_the_runs_theta_replays_its_forks_and_missed_forks(tiny_engine, theta, cap):
    s = Settings(method="eager", theta=theta, max_seqs=cap, max_new_tokens=24, seed=7)
    r = collect(generate(tiny_engine, "one two three four", s))
    assert all(q.top2 for q in r.sequences)
    w = what_if(r.sequences, r.forks, theta, cap, s.monitor_window)
    actual = {(f.parent, f.pos) for f in r.forks}
    assert set(w.points) == actual | set(missed_forks(r, theta))
    assert len(w.points) == len(r.forks) + len(missed_forks(r, theta))
    assert w.sequences == len(r.sequences)


def test_a_higher_trial_theta_marks_a_subset(tiny_engine):
    s = Settings(method="eager", theta=0.5, max_seqs=6, max_new_tokens=24, seed=3)
    r = collect(generate(tiny_engine, "the cat sat", s))
    low = what_if(r.sequences, r.forks, 0.5, 6, s.monitor_window)
    high = what_if(r.sequences, r.forks, 1.5, 6, s.monitor_window)
    assert set(high.points) <= set(low.points)
    assert high.sequences <= low.sequences
    assert all(r.sequences[q].entropies[i] >= 1.5 for q, i in high.points)

"""θ calibration: quantiles for a branch rate, replayed trees for sequences per prompt."""

import numpy as np
import pytest

from eager_local.errors import SettingsError
from eager_local.evaluation.calibration import (
    Calibration, histogram, mean_sequences, sample_entropies, simulate_sequences,
    theta_for_rate, theta_for_sequences,
)
from eager_local.evaluation.prompts import PromptFormat
from eager_local.settings import Settings

from test_eval_runner import DATA, make_model


def cal_of(*prompts):
    return Calibration(tuple(tuple(np.asarray(p, float) for p in prompt) for prompt in prompts),
                       Settings(method="parallel"), 0.0)


def test_simulated_tree():
    a = np.array([0, 0, 2.0, 0, 0, 0])
    b = np.array([0, 0, 0, 0, 2.0, 0])
    # root (a) branches at 2; the child follows b from 3 and branches at 4
    assert simulate_sequences((a, b), 1.0, 16) == 3
    assert simulate_sequences((a, b), 1.0, 2) == 2
    assert simulate_sequences((a, b), 2.5, 16) == 1
    assert simulate_sequences((), 1.0, 16) == 1


def test_theta_for_rate_and_sequences():
    rng = np.random.default_rng(0)
    cal = cal_of(*[[rng.exponential(0.2, 40) for _ in range(4)] for _ in range(5)])
    th = theta_for_rate(cal, 0.05)
    assert cal.branch_rate(th) == pytest.approx(0.05, abs=0.01)
    assert theta_for_rate(cal, 0.01) > th
    t4 = theta_for_sequences(cal, 4, 16)
    assert mean_sequences(cal, t4, 16) >= 4
    assert theta_for_sequences(cal, 8, 16) <= t4
    with pytest.raises(SettingsError):
        theta_for_rate(cal, 0)
    with pytest.raises(SettingsError):
        theta_for_sequences(cal, 20, 16)


def test_histogram_counts_everything():
    h = np.array([0.01, 0.05, 0.15, 1.0, 2.99])
    bins = histogram(h, 0.1)
    assert sum(n for _, n in bins) == 5 and bins[0] == (0.0, 2)


def test_sample_entropies_records_every_token():
    model = make_model()
    cal = sample_entropies(model, DATA, PromptFormat("chat"),
                           Settings(max_seqs=3, max_new_tokens=6))
    assert len(cal.paths) == 6 and all(len(p) == 3 for p in cal.paths)
    assert cal.settings.method == "parallel"
    assert cal.entropies.size == sum(len(x) for p in cal.paths for x in p) > 0
    assert np.all((cal.entropies >= 0) & (cal.entropies <= np.log(20) + 1e-6))

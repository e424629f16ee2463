"""The sweep's configurations, θ parsing, and parallel's curve read at a fractional k."""

import pytest

from eager_local.errors import SettingsError
from eager_local.evaluation.sweep import Configuration, configurations, parse_thetas
from eager_local.evaluation.sweep_report import Curve


def test_configurations_put_parallel_first_and_name_one_file_each():
    cs = configurations((0.5, 1.2), adapt=True)
    assert [c.label for c in cs] == ["parallel", "eager θ=0.5", "eager θ=1.2", "eager-adapt θ=0.5", "eager-adapt θ=1.2"]
    assert len({c.file_name for c in cs}) == len(cs)
    assert Configuration("eager", 0.5).file_name == "eager-theta0.5.jsonl"


@pytest.mark.parametrize("text, word", [("0.5,x", "'x'"), ("0.5,-1", "≥ 0"), ("1,1", "twice"), ("inf", "finite")])
def test_bad_thetas_are_named(text, word):
    with pytest.raises(SettingsError, match=word):
        parse_thetas(text)


def test_curve_is_linear_between_integer_k():
    # one prompt, M = 4: pass@k = 0.25, 0.5, 0.75, 1.0; 10 tokens per sequence
    c = Curve(10.0, {"Pass@k": {"a": [0.25, 0.5, 0.75, 1.0]}, "Cons@k": {"a": [0, 0, 1, 1]}})
    assert c.m == 4
    assert c.at("Pass@k", "a", 2.5) == pytest.approx(0.625)
    assert c.at("Pass@k", "a", 4.0) == pytest.approx(1.0)
    assert c.at("Cons@k", "a", 2.25) == pytest.approx(0.25)
    assert c.mean("Pass@k") == [0.25, 0.5, 0.75, 1.0]

"""The ``eager`` object's pruning fields, parsed without a server."""

import pytest

from eager_local.server.errors import ApiError
from eager_local.server.limits import ServerConfig
from eager_local.server.requests import parse_completion

BODY = {"prompt": "the cat", "max_tokens": 32}


def parse(eager):
    return parse_completion({**BODY, "eager": eager}, ServerConfig("test"))


def test_pruning_fields_become_settings():
    s = parse({"prune": "confidence", "prune_keep": 10, "prune_window": 8, "prune_warmup": 2,
               "max_seqs": 8, "stop_on_consensus": 0.9}).settings(seed=1).validate()
    assert (s.prune, s.prune_keep, s.prune_window, s.prune_warmup, s.stop_on_consensus) == (
        "confidence", 10.0, 8, 2, 0.9)
    assert parse({}).settings(seed=1).prune == "none"


@pytest.mark.parametrize("eager, param", [
    ({"prune": "confidence", "prune_keep": 150}, "eager.prune_keep"),
    ({"prune": "confidence", "prune_window": 64}, "eager.prune_window"),
    ({"prune": "confidence", "max_seqs": 4, "prune_warmup": 4}, "eager.prune_warmup"),
    ({"stop_on_consensus": 0.9}, "eager.stop_on_consensus"),
    ({"prune": True}, "eager.prune"),
])
def test_bad_pruning_fields_are_a_400_naming_the_field(eager, param):
    with pytest.raises(ApiError) as e:
        parse(eager)
    assert e.value.status == 400 and e.value.param == param
    assert e.value.message.startswith(param)

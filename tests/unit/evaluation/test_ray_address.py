"""A Ray address is user input: checked before Ray sees it, one line that names `--ray local`
(a cluster on this machine) when nothing answers."""

from __future__ import annotations

import pytest

from eager_local.errors import RayError
from eager_local.evaluation.ray_workers import NO_CLUSTER, check_reachable


@pytest.mark.parametrize("address, words", [
    ("127.0.0.1:1", "nothing answers there"),
    ("127.0.0.1:99999999", "the port must be between 1 and 65535"),
    ("host:0", "the port must be between 1 and 65535"),
    ("bad\x00host:6379", "nothing answers there"),
    ("no-such-host.invalid:6379", "nothing answers there"),
])
def test_bad_ray_address_is_one_line(address, words):  # `ray-nothing-answers`, `ray-port-range`
    with pytest.raises(RayError) as e:
        check_reachable(address)
    line = e.value.one_line()
    assert words in line and "\n" not in line
    if "answers" in words:
        assert "--ray local" in line and line.endswith(NO_CLUSTER)

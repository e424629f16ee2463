"""`eager run --html/--svg` on the real llama.cpp (tiny GGUF): the files the TUI saves."""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from eager_local.result import RunResult
from eager_local.view.live_run import LiveRun
from eager_local.view.tree_graph import lanes, tree_svg


def run_cmd(tiny_gguf, *extra):
    return [sys.executable, "-m", "eager_local", "run", "the cat sat", "--model", str(tiny_gguf),
            "--threads", "1", "--theta", "0.6", "-M", "6", "-T", "20", *extra]


def test_run_writes_html_and_svg_with_a_lane_per_sequence(tmp_path, tiny_gguf):
    html, svg, doc = tmp_path / "r.html", tmp_path / "r.svg", tmp_path / "r.json"
    with doc.open("w") as out:
        r = subprocess.run(run_cmd(tiny_gguf, "--json", "--html", str(html), "--svg", str(svg)),
                           stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    result = RunResult.from_json(json.loads(doc.read_text()))
    assert len(result.forks) >= 1
    root = ET.fromstring(svg.read_text())  # well-formed, self-contained
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert len(re.findall(r">seq \d+</text>", text)) == len(result.sequences)
    assert text.count('stroke="#e05be0"') == len(result.forks)
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "run-data" in page
    assert "http" not in page  # opens offline
    # the drawing in the page is the one `tree_svg` makes of the same run
    assert tree_svg(LiveRun.from_result(result), standalone=False).split("\n")[0] in page


def test_lanes_follow_the_outline_and_the_export_paths_are_checked_first(tmp_path, tiny_gguf):
    r = subprocess.run(run_cmd(tiny_gguf, "--svg", str(tmp_path / "no" / "r.svg")),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "mkdir -p" in r.stderr
    r = subprocess.run(run_cmd(tiny_gguf, "--html", str(tmp_path / "r.txt")), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and ".html" in r.stderr
    r = subprocess.run(run_cmd(tiny_gguf, "--json"), capture_output=True, text=True, timeout=120)
    run = LiveRun.from_result(RunResult.from_json(json.loads(r.stdout)))
    order = lanes(run)
    assert sorted(order) == list(range(len(run.seqs)))
    for f in run.forks:  # a child's lane comes after its parent's
        assert order.index(f.child) > order.index(f.parent)

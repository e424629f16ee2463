"""Property-based hostile inputs (hypothesis): the property everywhere is "exit 0 or a
clean one-line refusal; never a traceback, an abort, a hang or a lost record".

- random argument vectors for ``eager run`` / ``eval`` / ``report`` (in-process, tiny GGUF);
- random dataset lines (and valid records with any Unicode in them);
- random mutations of a valid eval run file fed to ``eager report``, and of a
  valid run document fed to the TUI's loader;
- random cuts of a run file's last line before ``--resume`` (no record lost);
- random byte flips of the tiny GGUF, loaded and run in a real process (an abort
  there would kill the process, so it is watched from outside).

Bounded for CI: EXAMPLES below (derandomized, so every CI run tries the same
examples), each example under an alarm of ALARM_S seconds so a hang fails the
test instead of blocking it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from eager_local.cli import main  # noqa: E402
from eager_local.errors import EagerError  # noqa: E402

pytestmark = pytest.mark.fuzz
ROOT = Path(__file__).resolve().parents[2]
ALARM_S = 30
#: examples per property, per CI run (the sum is reported in docs/reliability.md)
EXAMPLES = {"argv": 200, "dataset": 300, "report": 300, "load": 300, "resume": 100, "gguf": 8,
            "tensors": 60}


#: EAGER_FUZZ_SCALE=10 runs ten times as many examples (for a long local hunt)
SCALE = max(1, int(os.environ.get("EAGER_FUZZ_SCALE", "1")))


def fuzz(name: str):
    return settings(max_examples=EXAMPLES[name] * SCALE, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@contextlib.contextmanager
def alarm(seconds: int = ALARM_S):
    """A hang becomes a failure: SIGALRM raises in the main thread after ``seconds``."""
    def fire(signum, frame):
        raise TimeoutError(f"no answer after {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(capsys, argv) -> tuple[int, str]:
    with alarm():
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            code = e.code
    out, err = capsys.readouterr()
    return code, err


def clean(code, err) -> None:
    """The property: success, or one line and exit 2, never a traceback."""
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, err


# ---------------------------------------------------------------- argument vectors

BAD_UTF8 = os.fsdecode(b"\xff\xfe")
VALUES = {
    "-T": ["0", "-1", "3", "nan", "1e9", "x", "", "2"],
    "-M": ["0", "1", "3", "257", "-5", "abc", "256"],
    "--theta": ["nan", "inf", "-1", "0", "0.5", "1e308", "-0"],
    "--temperature": ["inf", "0", "-1", "1e-30", "0.6", "nan"],
    "--top-p": ["0", "1", "1.5", "nan", "1e-300"],
    "--top-k-entropy": ["0", "1", "2", "100000", "-3"],
    "--seed": ["-1", "0", "99999999999999999999", "1.5"],
    "--stop": ["", " ", "\\n", BAD_UTF8, "the", "x" * 500],
    "--n-ctx": ["10", "64", "256", "100000000000", "-1", "4294967360"],
    "--threads": ["0", "1", "513", "-1", "100000"],
    "--method": ["eager", "parallel", "greedy", "beam", "", "eager-full"],
    "--monitor-window": ["0", "1", "-1"],
    "-m": ["{model}", "", "~nosuchuser/x.gguf", "/dev/zero", "{tmp}", "nope", BAD_UTF8],
}
PROMPTS = st.one_of(st.text(max_size=40), st.sampled_from(["the cat", "", " ", "\x00", BAD_UTF8, "é" * 3000]))


@st.composite
def run_argv(draw):
    argv = ["run", draw(PROMPTS)] if draw(st.booleans()) else ["run"]
    argv += ["-m", "{model}", "--n-ctx", "256", "-T", "4", "--threads", "1"]
    for opt in draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=4, unique=True)):
        argv += [opt, draw(st.sampled_from(VALUES[opt]))]
    if draw(st.booleans()):
        argv.append("--json")
    return argv


@st.composite
def eval_argv(draw):
    argv = ["eval", draw(st.sampled_from(["{data}", "/dev/zero", "{tmp}", "humaneval", "nope.jsonl"])),
            "--out", draw(st.sampled_from(["{tmp}/o.jsonl", "/dev/full", "{tmp}", "{data}", "/dev/stdout"])),
            "-m", "{model}", "--n-ctx", "256", "-T", "4", "-M", "2", "--threads", "1", "--shots", "0"]
    for opt in draw(st.lists(st.sampled_from(["--limit", "--resume", "--kind", "--field", "--code-timeout",
                                              "--prompt-style", "--init-from", "--method"]), max_size=3, unique=True)):
        argv += {"--limit": ["--limit", draw(st.sampled_from(["0", "1", "-2", "x"]))],
                 "--resume": ["--resume"],
                 "--kind": ["--kind", draw(st.sampled_from(["numeric", "latex", "code", "x"]))],
                 "--field": ["--field", draw(st.sampled_from(["question=q", "x", "id=", "answer=question"]))],
                 "--code-timeout": ["--code-timeout", draw(st.sampled_from(["1e-9", "0", "nan", "1"]))],
                 "--prompt-style": ["--prompt-style", draw(st.sampled_from(["chat", "fewshot", "code"]))],
                 "--init-from": ["--init-from", draw(st.sampled_from(["{data}", "/dev/zero", "{tmp}/none"]))],
                 "--method": ["--method", draw(st.sampled_from(["eager-adapt", "greedy", "parallel", "x"]))]}[opt]
    return argv


@pytest.fixture(scope="module")
def places(tmp_path_factory, tiny_gguf):
    d = tmp_path_factory.mktemp("fuzz")
    data = d / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "question": f"the cat {i}", "answer": str(i)}) + "\n"
                            for i in range(2)))
    return {"model": str(tiny_gguf), "tmp": str(d), "data": str(data)}


REPORT_ARGS = st.lists(st.sampled_from(["{data}", "{tmp}", "/dev/zero", "--plot", "{tmp}/x.png", "x.txt", "-m"]),
                       max_size=5).map(lambda a: ["report", *a])


@fuzz("argv")
@given(argv=st.one_of(run_argv(), eval_argv(), REPORT_ARGS))
def test_any_argument_vector(capsys, places, argv):
    for p in Path(places["tmp"]).glob("o.jsonl*"):
        p.unlink()
    argv = [a.replace("{model}", places["model"]).replace("{tmp}", places["tmp"]).replace("{data}", places["data"])
            for a in argv]
    clean(*cli(capsys, argv))


# ---------------------------------------------------------------- dataset lines

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
LINES = st.one_of(
    st.text(max_size=60),
    JSON_VALUES.map(json.dumps),
    st.fixed_dictionaries({"id": JSON_VALUES, "question": JSON_VALUES, "answer": JSON_VALUES}).map(json.dumps),
)


@fuzz("dataset")
@given(lines=st.lists(LINES, max_size=6), good=st.lists(st.text(min_size=1, max_size=30), max_size=4))
def test_any_dataset_lines(tmp_path_factory, lines, good):
    from eager_local.errors import DatasetError
    from eager_local.evaluation.datasets import load_jsonl

    d = tmp_path_factory.mktemp("ds")
    p = d / "d.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    with alarm():
        try:
            load_jsonl(p)
        except DatasetError as e:
            assert "\n" not in e.one_line()
    # valid records with any text in them (U+2028, U+0085, ...) all come back whole
    good = [q for q in good if q.strip()]
    if good:
        p.write_text("".join(json.dumps({"id": str(i), "question": q, "answer": "1"}, ensure_ascii=False) + "\n"
                             for i, q in enumerate(good)), encoding="utf-8", errors="surrogatepass")
        try:
            ds = load_jsonl(p)
        except DatasetError:
            assert any(0xD800 <= ord(c) <= 0xDFFF for q in good for c in q)  # lone surrogates: not UTF-8
            return
        assert [it.question for it in ds.items] == good


# ---------------------------------------------------------------- run files

@pytest.fixture(scope="module")
def run_lines(tmp_path_factory):
    """The lines of a real two-phase run file (scripted fake engine: fast)."""
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "evaluation"))
    from test_eval_runner import runner

    out = tmp_path_factory.mktemp("runs") / "run.jsonl"
    runner(out, "eager-full").run()
    return out.read_text().splitlines()


MUTANTS = st.one_of(
    st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=6), st.just([]), st.just({}),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _paths(obj, prefix=()):
    """Every place (key path) in a JSON object."""
    yield prefix
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


def mutate(doc, draw) -> None:
    """Replace, delete or shorten at one random place of ``doc`` (in place)."""
    places = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(places))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    action = draw(st.sampled_from(["replace", "delete", "shorten"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "shorten" and isinstance(parent[path[-1]], list) and parent[path[-1]]:
        parent[path[-1]].pop()
    else:
        parent[path[-1]] = draw(MUTANTS)


@fuzz("report")
@given(data=st.data())
def test_report_on_any_mutated_run_file(capsys, tmp_path_factory, run_lines, data):
    recs = [json.loads(ln) for ln in run_lines]
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(recs[data.draw(st.integers(0, len(recs) - 1))], data.draw)
    p = tmp_path_factory.mktemp("rep") / "run.jsonl"
    p.write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in recs))
    clean(*cli(capsys, ["report", p]))


@pytest.fixture(scope="module")
def run_doc(tiny_gguf):
    from eager_local import load

    model = load(str(tiny_gguf), n_ctx=512, n_threads=1, hash_file=False)
    try:
        doc = model.run("the cat", max_new_tokens=12, max_seqs=4, theta=0.3, record_candidates=2).to_json()
    finally:
        model.close()
    # a TUI conversation's turns (eager_local/conversation.py), so mutations reach them too
    doc["conversation"] = {"mode": "continue", "turns": [{"message": "the", "seq": 1, "answer": " cat"},
                                                         {"message": "the cat", "seq": None, "answer": None}]}
    return doc


@fuzz("load")
@given(data=st.data())
def test_tui_loader_on_any_mutated_run_document(tmp_path_factory, run_doc, data):
    from eager_local.files.run_export import load_run

    doc = json.loads(json.dumps(run_doc))
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(doc, data.draw)
    p = tmp_path_factory.mktemp("load") / "run.json"
    p.write_text(json.dumps(doc, allow_nan=True))
    with alarm():
        try:
            run = load_run(p)
        except EagerError as e:
            assert "\n" not in e.one_line()
            return
    assert len(run.seqs) == len(doc["sequences"])


@fuzz("resume")
@given(cut=st.floats(0, 1), line=st.integers(0, 100))
def test_a_cut_last_line_loses_no_whole_record(tmp_path_factory, run_lines, cut, line):
    from eager_local.evaluation.records import read_records, repair_tail

    n = 1 + line % len(run_lines)
    last = run_lines[n - 1]
    k = round(cut * len(last))
    p = tmp_path_factory.mktemp("cut") / "run.jsonl"
    p.write_text("".join(ln + "\n" for ln in run_lines[: n - 1]) + last[:k])
    repair_tail(p)
    ids = [(r.phase, r.id) for r in read_records(p)]
    expected = [(json.loads(x)["phase"], json.loads(x)["id"]) for x in run_lines[:n]]
    assert ids == (expected if k == len(last) else expected[:-1])
    assert p.read_text().endswith("\n") or p.read_text() == ""


# ---------------------------------------------------------------- GGUF byte flips

GGUF_SCRIPT = """
import sys
from eager_local import load, EagerError
for path in sys.argv[1:]:
    try:
        m = load(path, n_ctx=256, n_threads=1, hash_file=False)
        try:
            m.run("the cat ü", max_new_tokens=3, max_seqs=2)
        finally:
            m.close()
        print("ok", flush=True)
    except EagerError as e:
        print("refused", e.one_line(), flush=True)
"""


@fuzz("gguf")
@given(flips=st.lists(st.lists(st.tuples(st.integers(4, 12000), st.integers(0, 255)), min_size=1, max_size=4),
                      min_size=6, max_size=6))
def test_gguf_byte_flips_never_abort(tiny_gguf, tmp_path_factory, flips):
    d = tmp_path_factory.mktemp("flips")
    data = Path(tiny_gguf).read_bytes()
    files = []
    for i, fl in enumerate(flips):
        m = bytearray(data)
        for pos, byte in fl:
            m[pos] = byte
        files.append(d / f"f{i}.gguf")
        files[-1].write_bytes(m)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", GGUF_SCRIPT, *map(str, files)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, (proc.returncode, flips, proc.stdout[-500:], proc.stderr[-2000:])
    outcomes = proc.stdout.splitlines()
    assert len(outcomes) == len(files) and all(o == "ok" or o.startswith("refused ") for o in outcomes), outcomes


# ---------------------------------------------------------------- GGUF tensor offsets


@pytest.fixture(scope="module")
def tensor_table(tiny_gguf):
    import gguf

    r = gguf.GGUFReader(tiny_gguf)
    size = Path(tiny_gguf).stat().st_size
    return [(int(t.field.parts[-1][0]), int(t.n_bytes)) for t in r.tensors], size - r.data_offset


@fuzz("tensors")
@given(moves=st.lists(st.tuples(st.integers(0, 20), st.one_of(st.integers(0, 1 << 19), st.integers(0, 1 << 64 - 1))),
                      min_size=1, max_size=3))
def test_gguf_tensor_offsets_overlap_or_past_end_are_refused(tiny_gguf, tmp_path_factory, tensor_table, moves):
    """Any tensor moved anywhere: the pre-check refuses exactly the layouts whose data
    overlap or run past the end of the file (one line), and passes the others."""
    import gguf

    from eager_local.models.model_file import check_gguf

    spans, data_size = tensor_table
    spans = list(spans)
    p = tmp_path_factory.mktemp("tensors") / "moved.gguf"
    p.write_bytes(Path(tiny_gguf).read_bytes())
    r = gguf.GGUFReader(p, "r+")
    for i, off in moves:
        r.tensors[i].field.parts[-1][0] = off
        spans[i] = (off, spans[i][1])
    r.data.flush()
    del r
    ordered = sorted((o, o + n) for o, n in spans if n)
    overlap = any(b[0] < a[1] for a, b in zip(ordered, ordered[1:]))
    past_end = max(e for _, e in ordered) > data_size
    try:
        check_gguf(p)
        refused = None
    except EagerError as e:
        refused = e.one_line()
    assert (refused is not None) == (overlap or past_end), (moves, refused)
    if refused:
        assert "\n" not in refused and "moved.gguf" in refused

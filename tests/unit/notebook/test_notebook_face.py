"""The notebook face over the fake engine: the inline HTML (well-formed, model text
escaped), the text summary, ``watch`` (one output area updated, the same result as
``model.run``, Ctrl-C and errors), θ what-if as data, and a damaged saved run."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser

import pytest

from eager_local.api import Model
from eager_local.engine.fake import FakeEngine, hashed_script
from eager_local.errors import EagerError
from eager_local.files.run_file import RunFileError
from eager_local.method.what_if import what_if
from eager_local.models.registry import ModelSpec
from eager_local.notebook import display, live, load, watch, what_if_rows, what_ifs
from eager_local.result import ModelInfo, RunResult
from eager_local.settings import Settings

V = 40
PIECES = {i: f" w{i}".encode() for i in range(3, V)}
HOSTILE = "</script><script>alert(1)</script> & <b>bold</b>"
SETTINGS = Settings(theta=1.2, max_seqs=5, max_new_tokens=24, seed=3, record_candidates=5)
VOID = {"meta", "br", "img", "input", "hr", "link", "rect", "line", "circle", "path", "polyline", "text_"}


def fake_model() -> Model:
    engine = FakeEngine(hashed_script(V, 2.0), vocab=V, pieces=PIECES)
    return Model(ModelSpec(alias="fake"), engine, ModelInfo("fake", "/models/fake.gguf", None))


class Tags(HTMLParser):
    """Checks that every opened element is closed in order (void elements aside)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs).get("type", "text/javascript"))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parsed(text: str) -> Tags:
    p = Tags()
    p.feed(text)
    p.close()
    return p


@pytest.fixture(scope="module")
def model():
    return fake_model()


@pytest.fixture(scope="module")
def hostile_result(model):
    return model.run(HOSTILE, SETTINGS)


def test_a_result_shows_itself_as_a_sandboxed_frame(hostile_result):
    cell = hostile_result._repr_html_()
    outer = parsed(cell)
    assert outer.problems == [] and outer.stack == []
    assert outer.scripts == []  # nothing runs in the notebook's own page
    assert cell.startswith("<iframe ") and 'sandbox="allow-scripts"' in cell
    page = html.unescape(cell.split('srcdoc="', 1)[1].split('" sandbox=', 1)[0])
    inner = parsed(page)
    assert inner.problems == [] and inner.stack == []
    # the prompt's markup is text: the page's only scripts are its data and its inspector
    assert inner.scripts == ["application/json", "text/javascript"]
    assert HOSTILE in "".join(inner.text)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page


def test_a_token_tooltip_names_its_top_candidates(model):
    result = model.run("the cat", SETTINGS)
    display.learn_vocab(result, model.engine)
    page = html.unescape(html.unescape(result._repr_html_()))  # the frame's, then the tooltip's
    cands = result.sequences[0].candidates[0]
    best = max(cands, key=lambda c: c[1])
    assert f"{best[1]:.3f} {PIECES[best[0]].decode()!r}" in page


def test_the_text_summary_is_a_few_lines(hostile_result):
    from IPython.lib.pretty import pretty

    text = pretty(hostile_result)
    lines = text.splitlines()
    assert lines[0].startswith("RunResult · fake · eager θ=1.2 M=5")
    assert len(lines) == 3 + min(len(hostile_result.sequences), display.SUMMARY_SEQUENCES) + (
        len(hostile_result.sequences) > display.SUMMARY_SEQUENCES)
    assert f"{hostile_result.stats.n_sequences} sequences" in lines[1]
    assert repr(hostile_result).startswith("RunResult(prompt=")  # the dataclass repr is kept


class FakeOutput:
    """An output area: keeps every update."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.updates: list[str] = []
        self.stop_at = stop_at

    def update(self, text: str) -> None:
        self.updates.append(text)
        if self.stop_at is not None and len(self.updates) == self.stop_at:
            raise KeyboardInterrupt


def test_watch_updates_one_area_and_returns_the_runs_result(model):
    out = FakeOutput()
    watched = watch(model.stream("the cat", SETTINGS), model=model, output=out, every_s=0.0)
    ran = model.run("the cat", SETTINGS)
    assert watched.sequences == ran.sequences and watched.forks == ran.forks
    assert len(out.updates) >= 3  # drawn while decoding, then the finished run
    assert "step " in out.updates[1] and "<svg" in out.updates[1]
    assert out.updates[-1] == display.result_html(watched, display.KNOWN_VOCAB["/models/fake.gguf"])


def test_watch_is_throttled(model):
    out = FakeOutput()
    watch(model.stream("the cat", SETTINGS), output=out, every_s=3600)
    assert len(out.updates) == 2  # the first picture, then the finished run


def test_ctrl_c_stops_the_run_and_the_model_runs_again(model):
    stream = model.stream("the cat", SETTINGS)
    out = FakeOutput(stop_at=2)
    with pytest.raises(KeyboardInterrupt):
        watch(stream, output=out, every_s=0.0)
    assert stream.gi_frame is None  # closed: the run's KV cells are released
    assert "interrupted" in out.updates[-1]
    assert model.run("the cat", SETTINGS).sequences == watch(model.stream("the cat", SETTINGS),
                                                             output=FakeOutput()).sequences


def test_an_error_from_the_stream_is_one_line_in_the_area(model):
    def failing():
        yield from list(model.stream("the cat", SETTINGS))[:5]
        raise EagerError("the engine stopped: load the model again", title="model")

    out = FakeOutput()
    with pytest.raises(EagerError):
        watch(failing(), output=out, every_s=0.0)
    assert "model: the engine stopped: load the model again</div>" in out.updates[-1]
    assert "Traceback" not in out.updates[-1]


def test_what_if_rows_match_the_tuis_what_if(model):
    result = model.run("the cat", SETTINGS)
    thetas = [0.5, 1.2, 2.0]
    ws = what_ifs(result, thetas)
    s = result.settings
    for t, w in zip(thetas, ws):
        assert w == what_if(result.sequences, result.forks, t, s.max_seqs, s.monitor_window)
    counts = [len(w.points) for w in ws]
    assert counts == sorted(counts, reverse=True)  # a higher θ never finds more points
    rows = what_if_rows(result, thetas, cap=50)
    assert [r["fork_points"] for r in rows] == counts and all(r["M"] == 50 for r in rows)


def test_entropy_figure_draws_a_line_per_theta(model):
    import matplotlib

    matplotlib.use("Agg")
    from eager_local.notebook import entropy_figure

    result = model.run("the cat", SETTINGS)
    fig = entropy_figure(result, [0.5, 2.0])
    ax = fig.axes[0]
    assert len(ax.patches) == len(result.sequences[0].entropies)
    assert sorted(round(line.get_ydata()[0], 3) for line in ax.lines) == [0.5, 1.2, 2.0]


def test_a_damaged_saved_run_is_refused_as_the_tui_refuses_it(model, tmp_path):
    from eager_local.files.run_export import load_run

    good = model.run("the cat", SETTINGS).to_json()
    good["sequences"][0]["pieces"] = good["sequences"][0]["pieces"][:2]
    bad = tmp_path / "run.json"
    bad.write_text(json.dumps(good), encoding="utf-8")
    with pytest.raises(RunFileError) as tui_error:
        load_run(bad)  # what eager tui --load reads it with
    with pytest.raises(RunFileError) as nb_error:
        load(bad)
    assert nb_error.value.one_line() == tui_error.value.one_line()
    assert "pieces" in nb_error.value.message
    (tmp_path / "ok.json").write_text(json.dumps(model.run("the cat", SETTINGS).to_json()), encoding="utf-8")
    assert isinstance(load(tmp_path / "ok.json"), RunResult)


def test_an_eager_error_in_a_cell_is_one_line(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        live.quiet_errors()
        shell.run_cell("from eager_local.errors import SettingsError\n"
                       "raise SettingsError('max_seqs must be an integer ≥ 1 (got 0)')")
        err = capsys.readouterr()
        assert err.err.strip() == "settings: max_seqs must be an integer ≥ 1 (got 0)"
        assert "Traceback" not in err.out + err.err
        shell.run_cell("raise ValueError('a bug')")  # other errors keep their traceback
        assert "Traceback" in "".join(capsys.readouterr())
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()


def test_the_notebook_rows_are_in_the_bad_input_table():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "bad-input.md").read_text(encoding="utf-8")
    for row in ("notebook-stream-error", "notebook-interrupt", "notebook-load-damaged"):
        assert f"`{row}`" in text

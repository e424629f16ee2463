"""The run controls: prompt, model, method and every setting, a second configuration to
compare with, and Run and Stop."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, TextArea

from eager_local.errors import EagerError, PromptError, SettingsError
from eager_local.models.registry import default_theta, describe_model, load_registry
from eager_local.settings import METHODS, Settings


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker."""

    spec: str
    """Registry alias or .gguf path handed to the loader."""
    label: str
    """What the picker shows: alias, size, present or not."""


@dataclass(frozen=True)
class Field:
    """A numeric setting the controls edit."""

    name: str
    """Attribute of ``Settings``."""
    label: str
    kind: type


FIELDS = (
    Field("theta", "θ", float),
    Field("max_seqs", "M", int),
    Field("temperature", "τ", float),
    Field("top_p", "top-p", float),
    Field("top_k_entropy", "K", int),
    Field("max_new_tokens", "max new", int),
    Field("seed", "seed", int),
)


def setting_label(name: str) -> str:
    """How the controls call a setting (errors name settings this way here)."""
    return next((f.label for f in FIELDS if f.name == name), name)


def registry_choices(extra: str | None = None) -> tuple[list[ModelChoice], str | None, str | None]:
    """Picker entries from models.toml, the default alias, and an error line if the registry is bad."""
    try:
        reg = load_registry()
    except EagerError as e:
        return ([ModelChoice(extra, extra)] if extra else []), extra, e.one_line()
    out = []
    for spec in reg.models.values():
        row = describe_model(spec)
        size = f"{row['size'] / 1e6:.0f}MB" if row.get("size") else "-"
        state = "present" if row.get("present") else row.get("status", "missing")
        out.append(ModelChoice(spec.alias, f"{spec.alias} {size} {state}"))
    if extra and extra not in reg.models:
        out.append(ModelChoice(extra, f"{extra} · path"))
    return out, extra or reg.default, None


class Controls(VerticalScroll):
    """Everything a run needs; ``read`` turns it into (prompt, model, Settings)."""

    DEFAULT_CSS = """
    Controls { width: 34; padding: 0 1; }
    Controls #prompt { height: 6; }
    Controls Grid { grid-size: 2; grid-columns: 9 1fr; grid-rows: 1; grid-gutter: 0 1; height: auto; }
    Controls Select { margin: 0 0 0 0; }
    Controls .caption { color: $text-muted; }
    Controls #buttons { height: 1; margin-top: 1; }
    Controls Button { margin-right: 1; min-width: 10; }
    """

    def __init__(self, choices: list[ModelChoice], model: str | None, settings: Settings,
                 prompt: str = "", **kw) -> None:
        super().__init__(**kw)
        self.choices = choices
        self.model = model
        self.settings = settings
        self.prompt = prompt
        self._model_theta = default_theta(model)
        """The picked model's own θ (models.toml); followed while the user keeps it."""

    def compose(self) -> ComposeResult:
        yield Label("Prompt", classes="caption")
        yield TextArea(self.prompt, id="prompt", soft_wrap=True, tab_behavior="focus")
        yield Label("Model", classes="caption")
        options = [(Text(c.label), c.spec) for c in self.choices]  # a path is not markup
        value = self.model if any(c.spec == self.model for c in self.choices) else Select.NULL
        yield Select(options, value=value, id="model", compact=True, allow_blank=not options,
                     prompt="no model")
        with Grid():
            yield Label("method")
            yield Select([(m, m) for m in METHODS], value=self.settings.method, id="method",
                         compact=True, allow_blank=False)
            for f in FIELDS:
                yield Label(f.label)
                yield Input(str(getattr(self.settings, f.name)), id=f"set-{f.name}", compact=True,
                            type="number" if f.kind is float else "integer")
            yield Label("vs")
            yield Select([("—", "none"), *((m, m) for m in METHODS)], value="none", id="compare",
                         compact=True, allow_blank=False)
            yield Label("vs θ")
            yield Input(str(self.settings.theta), id="set-compare-theta", compact=True, type="number")
        with Horizontal(id="buttons"):
            yield Button("Run", id="run", variant="success", compact=True)
            yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A newly picked model brings its own θ, unless the user has typed another one."""
        if event.select.id != "model" or event.value is Select.NULL:
            return
        new = default_theta(str(event.value))
        box = self.query_one("#set-theta", Input)
        try:
            untouched = float(box.value) == self._model_theta
        except ValueError:
            untouched = False
        if untouched:
            box.value = str(new)
        self._model_theta = new

    def read(self, base: Settings) -> tuple[str, str | None, Settings]:
        """The prompt, model and settings; raises an EagerError naming a bad field."""
        prompt = self.query_one("#prompt", TextArea).text
        if not prompt.strip():
            raise PromptError("the prompt is empty: type some text for the model to continue")
        model = self.query_one("#model", Select).value
        spec = None if model is Select.NULL else str(model)
        changes: dict = {"method": str(self.query_one("#method", Select).value)}
        for f in FIELDS:
            raw = self.query_one(f"#set-{f.name}", Input).value.strip()
            try:
                changes[f.name] = f.kind(raw)
            except ValueError:
                raise SettingsError(f"⟨{f.name}⟩ must be {'a number' if f.kind is float else 'a whole number'} (got {raw!r})") from None
        return prompt, spec, base.with_(**changes)

    def read_compare(self, settings: Settings) -> Settings | None:
        """The second configuration (method "vs", θ "vs θ") to run beside ``settings``, or None."""
        method = str(self.query_one("#compare", Select).value)
        if method == "none":
            return None
        raw = self.query_one("#set-compare-theta", Input).value.strip()
        try:
            theta = float(raw)
        except ValueError:
            raise SettingsError(f"vs θ must be a number (got {raw!r})") from None
        return settings.with_(method=method, theta=theta)

    def show(self, prompt: str, settings: Settings) -> None:
        """Fill the form from a run (a loaded one, say)."""
        self.query_one("#prompt", TextArea).text = prompt
        self.query_one("#method", Select).value = settings.method
        for f in FIELDS:
            self.query_one(f"#set-{f.name}", Input).value = str(getattr(settings, f.name))

    def set_running(self, running: bool) -> None:
        self.query_one("#run", Button).disabled = running
        self.query_one("#stop", Button).disabled = not running

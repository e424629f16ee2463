"""The HTML export: a run as one self-contained page (coloured tokens, the sequence tree as an
outline and drawn against token position, the inspector data), with no network access needed
to open it. Pure functions.
"""

from __future__ import annotations

import html
import json
import math

from .palette import entropy_hex, scale_max

from ..tree import LiveSequence
from . import tree_model

from .live_run import LiveRun
from .tree_graph import tree_svg

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#15171c;color:#dde1e8}
header{padding:12px 20px;background:#20242c;border-bottom:1px solid #333}
h1{font-size:18px;margin:0 0 4px} .meta{color:#9aa3b2;font-size:13px}
main{display:grid;grid-template-columns:minmax(260px,30%) 1fr;gap:16px;padding:16px 20px}
aside{position:sticky;top:8px;align-self:start;max-height:96vh;overflow:auto}
h2{font-size:15px;margin:12px 0 6px;color:#c9d1dd}
pre.prompt{white-space:pre-wrap;background:#1d2027;padding:8px;border-radius:4px;margin:0}
ul.tree{list-style:none;padding-left:14px;margin:2px 0;border-left:1px dotted #555}
ul.tree.top{border-left:none;padding-left:0}
.fork{font-family:ui-monospace,monospace;font-size:12px}
.leaf a{color:#8fc1ff;text-decoration:none;font-family:ui-monospace,monospace;font-size:12px}
.legend{display:flex;height:14px;border-radius:3px;overflow:hidden;position:relative;margin:4px 0 2px}
.legend span{flex:1}
.theta{position:absolute;top:-2px;bottom:-2px;width:2px;background:#fff}
.scale{display:flex;justify-content:space-between;font-size:11px;color:#9aa3b2}
section.seq{margin:0 0 14px;padding:8px 10px;background:#1b1e24;border-radius:6px}
section.seq h3{font-size:13px;margin:0 0 6px;color:#9aa3b2;font-weight:normal}
.tokens{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:13px;line-height:1.7}
.tok{color:#111;border-radius:2px;cursor:pointer;padding:0 0}
.tok.shared{opacity:.55}.tok.fork{outline:2px solid #e05be0}.tok.sel{outline:2px solid #fff}
#inspector{background:#1d2027;padding:8px;border-radius:4px;font-size:12px;min-height:60px}
.bar{display:grid;grid-template-columns:9em 1fr 4em;gap:6px;align-items:center;margin:2px 0}
.bar div.b{height:10px;background:#6ea0e6;border-radius:2px}
.bar code{white-space:pre;overflow:hidden;text-overflow:ellipsis}
.chosen{color:#ffd866}
.graph{overflow-x:auto;margin-bottom:12px}
"""

JS = r"""
const RUN=JSON.parse(document.getElementById('run-data').textContent);
function show(s,i){
  document.querySelectorAll('.tok.sel').forEach(e=>e.classList.remove('sel'));
  const el=document.querySelector(`.tok[data-s="${s}"][data-i="${i}"]`); if(el) el.classList.add('sel');
  const q=RUN.seqs[s]; const h=q.entropies[i]; const box=document.getElementById('inspector');
  box.textContent='';
  const head=document.createElement('div');
  head.textContent=`seq ${s} · token ${i} · ${JSON.stringify(q.pieces[i])} · H ${h.toFixed(3)} nats (θ ${RUN.theta}) `+(h>=RUN.theta?'≥ θ':'< θ');
  box.appendChild(head);
  const fk=q.fork[i]; if(fk){const d=document.createElement('div');d.className='chosen';d.textContent=fk;box.appendChild(d);}
  const c=q.candidates[i];
  if(!c){const d=document.createElement('div');d.textContent='no candidates recorded';box.appendChild(d);return;}
  for(const [tok,p,txt] of c){
    const row=document.createElement('div');row.className='bar';
    const lab=document.createElement('code');lab.textContent=JSON.stringify(txt);
    if(tok===q.tokens[i]) lab.className='chosen';
    const w=document.createElement('div');const b=document.createElement('div');b.className='b';b.style.width=(100*p)+'%';w.appendChild(b);
    const v=document.createElement('span');v.textContent=p.toFixed(3);
    row.append(lab,w,v);box.appendChild(row);
  }
}
document.querySelectorAll('.tok').forEach(e=>e.addEventListener('click',()=>{show(+e.dataset.s,+e.dataset.i);history.replaceState(null,'',`#t-${e.dataset.s}-${e.dataset.i}`);}));
const m=location.hash.match(/^#t-(\d+)-(\d+)$/); if(m && RUN.seqs[+m[1]] && +m[2]<RUN.seqs[+m[1]].tokens.length) show(+m[1],+m[2]);
"""


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def run_html(run: LiveRun, title: str = "eager-local run") -> str:
    """The whole page for ``run``."""
    s = run.settings
    theta, k = s.theta, s.top_k_entropy
    model = (run.model.alias or run.model.path) if run.model else "model"
    c = run.counters
    meta = (f"{model} · {s.method} θ={s.theta:g} M={s.max_seqs} τ={s.temperature:g} "
            f"top-p={s.top_p:g} K={k} T={s.max_new_tokens} seed={s.seed} · "
            f"{len(run.seqs)} sequences · {c.generated_tokens} tokens generated "
            f"({c.decoded_tokens} decoded)")
    seqs = "\n".join(sequence_html(run, q, theta, k) for q in run.seqs)
    tree = "".join(f'<ul class="tree top">{node_html(run, n, theta, k)}</ul>'
                   for n in tree_model.build(run))
    data = json.dumps(inspector_data(run), ensure_ascii=False).replace("<", "\\u003c")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><div class=\"meta\">{esc(meta)}</div></header>"
        "<main><aside>"
        f"<h2>Prompt</h2><pre class=\"prompt\">{esc(run.prompt)}</pre>"
        f"<h2>Entropy scale</h2>{legend_html(theta, k)}"
        f"<h2>Sequence tree</h2>{tree}"
        "<h2>Inspector</h2><div id=\"inspector\">click a token to see its candidates</div>"
        f"</aside><div><h2>Tree against token position</h2><div class=\"graph\">{tree_svg(run, standalone=False)}</div>"
        f"<h2>Sequences</h2>{seqs}</div></main>"
        f'<script type="application/json" id="run-data">{data}</script>'
        f"<script>{JS}</script></body></html>\n"
    )


def legend_html(theta: float, k: int, steps: int = 24) -> str:
    top = scale_max(theta, k)
    cells = "".join(f'<span style="background:{entropy_hex(top * (i + 0.5) / steps, theta, k)}"></span>'
                    for i in range(steps))
    at = min(theta / top, 1.0) * 100 if top > 0 else 100
    return (f'<div class="legend">{cells}<div class="theta" style="left:{at:.1f}%" '
            f'title="θ = {theta:g}"></div></div>'
            f'<div class="scale"><span>0 (certain)</span><span>θ = {theta:g}</span>'
            f'<span>{top:.2f} nats</span></div>')


def node_html(run: LiveRun, node, theta: float, k: int) -> str:
    if isinstance(node, tree_model.Leaf):
        q = run.seqs[node.seq]
        return (f'<li class="leaf"><a href="#seq-{q.id}">● seq {q.id} · '
                f'{esc(q.finish_reason or "live")} · {len(q.tokens)} tokens</a></li>')
    f = node.fork
    colour = entropy_hex(f.entropy, theta, k)
    label = (f'⑂ token {f.pos}{" · by hand" if f.fork.manual else ""} · <span style="color:{colour}">H {f.entropy:.2f}</span> · '
             f"seq {f.parent} {esc(repr(f.parent_piece))} | seq {f.child} {esc(repr(f.child_piece))}")
    return (f'<li><span class="fork">{label}</span><ul class="tree">'
            f"{node_html(run, node.kept, theta, k)}{node_html(run, node.taken, theta, k)}</ul></li>")


def shown_pieces(q: LiveSequence, final_text: str | None) -> list[str]:
    """Pieces cut where the final text ends (a stop string is not shown)."""
    if final_text is None:
        return list(q.pieces)
    out, total = [], 0
    for p in q.pieces:
        room = max(len(final_text) - total, 0)
        out.append(p[:room])
        total += len(p)
    return out


def sequence_html(run: LiveRun, q: LiveSequence, theta: float, k: int) -> str:
    final = None
    if run.result is not None and q.id < len(run.result.sequences):
        final = run.result.sequences[q.id].text
    marks = run.fork_positions(q.id)
    spans = []
    for i, piece in enumerate(shown_pieces(q, final)):
        h = q.entropies[i]
        cls = "tok" + (" shared" if i < q.fork_pos else "") + (" fork" if i in marks else "")
        title = esc(hover_text(run, q, i))
        spans.append(f'<span class="{cls}" data-s="{q.id}" data-i="{i}" title="{title}" '
                     f'style="background:{entropy_hex(h, theta, k)}">{esc(piece)}</span>')
    origin = "root" if q.parent is None else f"from seq {q.parent} at token {q.fork_pos}"
    return (f'<section class="seq" id="seq-{q.id}"><h3>seq {q.id} · {origin} · '
            f'{esc(q.finish_reason or "live")} · {len(q.tokens)} tokens</h3>'
            f'<div class="tokens">{"".join(spans)}</div></section>')


def hover_text(run: LiveRun, q: LiveSequence, i: int, shown: int = 5) -> str:
    """A token's tooltip: its entropy and its most likely candidates (readable without
    JavaScript, as in a notebook cell whose scripts do not run)."""
    h = q.entropies[i]
    lines = [f"token {i} · H {h:.3f}" if math.isfinite(h) else f"token {i}"]
    cands = q.candidates[i] if q.candidates and i < len(q.candidates) else None
    for t, p in (cands or ())[:shown]:
        mark = "▸" if t == q.tokens[i] else " "
        lines.append(f"{mark} {p:.3f} {run.vocab.get(t, f'#{t}')!r}")
    return "\n".join(lines)


def inspector_data(run: LiveRun) -> dict:
    """What the page's inspector shows for each token (candidates with their text)."""
    seqs = []
    for q in run.seqs:
        forks = []
        for i in range(len(q.tokens)):
            hit = run.fork_at(q.id, i)
            forks.append(None if hit is None else _fork_words(hit[0], hit[1]))
        cands = [None if c is None else [[t, round(p, 6), run.vocab.get(t, f"#{t}")] for t, p in c]
                 for c in q.candidates]
        seqs.append({"tokens": q.tokens, "pieces": q.pieces,
                     "entropies": [round(h, 6) for h in q.entropies],
                     "candidates": cands, "fork": forks})
    return {"theta": run.settings.theta, "seqs": seqs}


def _fork_words(f, side: str) -> str:
    return (f"fork here: seq {f.parent} took {f.parent_piece!r} (most likely), "
            f"seq {f.child} took {f.child_piece!r} (second); this sequence is the {side}")

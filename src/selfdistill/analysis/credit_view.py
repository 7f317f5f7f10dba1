"""Show per-token credit: one self-contained HTML page (heat map, hover, table) or plain text.

The page needs no network and no files beside it: CSS, the hover script and the numbers
are inline. Red tokens are the ones the teacher (the model shown the feedback) finds less
likely than the student did (A_t < 0: blamed); blue ones it finds more likely. The GRPO
row colours the same tokens with the one advantage GRPO gives the whole rollout.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

from selfdistill.analysis.credit import CreditRecord, load_records

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;
 padding:0 16px;color:#1b1f24;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd}
.lede{color:#444}.formula{font-family:ui-monospace,monospace;background:#f4f5f7;padding:2px 6px;border-radius:4px}
dl.ctx{display:grid;grid-template-columns:10em 1fr;gap:4px 12px;margin:.6em 0}
dl.ctx dt{font-weight:600;color:#555}dl.ctx dd{margin:0;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:13px}
.row{display:grid;grid-template-columns:11em 1fr;gap:12px;align-items:start;margin:10px 0}
.label{font-weight:600}.label small{display:block;font-weight:400;color:#666}
pre.tokens{margin:0;padding:10px;border:1px solid #ddd;border-radius:6px;white-space:pre-wrap;
 word-break:break-word;font:14px/1.9 ui-monospace,'DejaVu Sans Mono',monospace;background:#fafafa}
.tok{border-radius:3px;padding:1px 0;cursor:default}.tok:hover{outline:2px solid #111}
.nl{color:#999}
.legend{display:flex;align-items:center;gap:8px;font-size:13px;color:#444;margin:6px 0 0 11em}
.bar{width:260px;height:12px;border-radius:3px;border:1px solid #ccc;
 background:linear-gradient(90deg,rgb(214,39,40),#fff,rgb(31,119,180))}
.summary{background:#fff7e6;border:1px solid #f0d9a8;border-radius:6px;padding:8px 12px;margin:10px 0}
table.credit{border-collapse:collapse;width:100%;font-size:13px;margin-top:12px}
table.credit th,table.credit td{border-bottom:1px solid #e5e5e5;padding:3px 6px;text-align:right}
table.credit th{background:#f4f5f7;position:sticky;top:0}
table.credit td.t,table.credit td.alts{text-align:left;font-family:ui-monospace,monospace;white-space:pre}
table.credit td.alts{white-space:normal}.alt{white-space:pre;margin-right:1.2em;display:inline-block}
table.credit tr.blamed td{background:#fdecea}
#tip{position:fixed;z-index:10;pointer-events:none;background:#1b1f24;color:#fff;border-radius:6px;
 padding:8px 10px;font:12px/1.4 ui-monospace,monospace;max-width:420px;box-shadow:0 4px 14px rgba(0,0,0,.25)}
#tip table{border-collapse:collapse}#tip td{padding:0 6px 0 0;color:#fff}
details{margin:.4em 0}summary{cursor:pointer;color:#444}
"""

_JS = """
(function(){
 const data = JSON.parse(document.getElementById('credit-data').textContent);
 const tip = document.getElementById('tip');
 const pct = lp => (100*Math.exp(lp)).toFixed(lp > Math.log(0.001) ? 1 : 3) + '%';
 const esc = s => s.replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
 const show = s => JSON.stringify(s).slice(1, -1);
 document.querySelectorAll('.tok').forEach(el => {
  el.addEventListener('mouseenter', () => {
   const rec = data[+el.dataset.r], i = +el.dataset.i, t = rec.tok;
   const a = t.t[i] - t.s[i];
   let h = '<b>#' + i + ' "' + esc(show(t.text[i])) + '"</b><br>' +
     'student p ' + pct(t.s[i]) + ' &middot; teacher p ' + pct(t.t[i]) + '<br>' +
     'A_t = ' + (a >= 0 ? '+' : '') + a.toFixed(3) + ' &middot; GRPO A = ' + rec.grpo.toFixed(3) +
     '<br>teacher prefers:<table>';
   t.alt[i].forEach(x => { h += '<tr><td>"' + esc(show(x[0])) + '"</td><td>teacher ' + pct(x[1]) +
     '</td><td>student ' + pct(x[2]) + '</td></tr>'; });
   tip.innerHTML = h + '</table>';
   tip.hidden = false;
   const r = el.getBoundingClientRect();
   tip.style.left = Math.min(r.left, window.innerWidth - 430) + 'px';
   tip.style.top = (r.bottom + 6 + tip.offsetHeight > window.innerHeight ?
                    r.top - tip.offsetHeight - 6 : r.bottom + 6) + 'px';
  });
  el.addEventListener('mouseleave', () => { tip.hidden = true; });
 });
})();
"""


def _pct(logp: float) -> str:
    p = math.exp(logp)
    return f"{100 * p:.1f}%" if p >= 0.001 else f"{100 * p:.3f}%"


def _color(v: float, scale: float) -> tuple[str, str]:
    """Background and text colour for a value on a diverging red-white-blue scale."""
    x = max(-1.0, min(1.0, v / scale)) if scale > 0 else 0.0
    target = (214, 39, 40) if x < 0 else (31, 119, 180)
    a = abs(x)
    rgb = tuple(round(255 + (c - 255) * a) for c in target)
    fg = "#fff" if a > 0.6 else "#111"
    return f"rgb{rgb}", fg


def _shown(text: str) -> str:
    """A token as it reads inline: newlines marked, whitespace kept."""
    esc = html.escape(text)
    return esc.replace("\n", '<span class="nl">\u21b5</span>\n')


def _repr(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def scale_of(records: Sequence[CreditRecord]) -> float:
    """One colour scale for a page: the largest |A_t| or |GRPO A| shown (at least 0.1)."""
    m = [abs(a) for r in records for a in r.advantages] + [abs(r.grpo_advantage) for r in records]
    return max([0.1, *[x for x in m if math.isfinite(x)]])


def _label(rec: CreditRecord) -> str:
    """Where a saved rollout came from, e.g. 'step 3, builtin/x, seed 0, rollout 2'."""
    m = rec.meta
    bits = [f"step {m['step']}" if "step" in m else "", str(m.get("problem_id") or ""),
            f"seed {m['seed']}" if "seed" in m else "",
            f"rollout {m['sample_idx']}" if "sample_idx" in m else "",
            f"update v{m['version']}" if "version" in m else ""]
    return ", ".join(b for b in bits if b)


def _title(rec: CreditRecord, i: int) -> str:
    label = _label(rec)
    return f"Rollout {i + 1}" + (f" ({label})" if label else "")


def _tokens_html(rec: CreditRecord, r: int, values: Sequence[float], scale: float) -> str:
    spans = []
    for i, (t, v) in enumerate(zip(rec.tokens, values, strict=True)):
        bg, fg = _color(v, scale)
        alts = "; ".join(f"{_repr(a)} {_pct(tl)}" for a, tl, _ in t.alternatives)
        title = (f"#{i} {_repr(t.text)}: student {_pct(t.student_logp)}, teacher "
                 f"{_pct(t.teacher_logp)}, A_t {t.advantage:+.3f}; teacher prefers: {alts}")
        spans.append(f'<span class="tok" data-r="{r}" data-i="{i}" style="background:{bg};'
                     f'color:{fg}" title="{html.escape(title)}">{_shown(t.text)}</span>')
    return "".join(spans)


def _record_html(rec: CreditRecord, r: int, scale: float) -> str:
    adv = rec.advantages
    ctx = [("prompt", rec.prompt)]
    if rec.feedback:
        ctx.append(("feedback", rec.feedback))
    if rec.solution:
        ctx.append(("sibling solution", rec.solution))
    m = rec.meta
    if "context" in m:
        ctx.append(("teacher context", str(m["context"])))
    if rec.reward is not None:
        group = ", ".join(f"{x:g}" for x in rec.group_rewards or [])
        ctx.append(("reward", f"{rec.reward:g} (group: {group})"))
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in ctx)
    worst = rec.most_negative(5)
    worst_txt = ", ".join(f"<code>\"{html.escape(_repr(t.text))}\"</code> ({t.advantage:+.2f}, #{i})"
                          for i, t in worst) or "none (no token has A_t &lt; 0)"
    mean = sum(adv) / len(adv) if adv else 0.0
    summary = (f'<div class="summary" id="summary-{r}"><b>Most negative A_t:</b> {worst_txt}. '
               f"Mean A_t {mean:+.3f} over {len(adv)} tokens; GRPO gives every token "
               f"{rec.grpo_advantage:+.3f}."
               + (f" ({rec.truncated} further answer tokens were not saved.)"
                  if rec.truncated else "") + "</div>")
    blamed = {i for i, _ in worst}
    rows = []
    for i, t in enumerate(rec.tokens):
        alts = "".join(f'<span class="alt">{html.escape(_repr(a))} {_pct(tl)}/{_pct(sl)}</span>'
                       for a, tl, sl in t.alternatives)
        cls = ' class="blamed"' if i in blamed else ""
        rows.append(f"<tr{cls}><td>{i}</td><td class=\"t\">{html.escape(_repr(t.text))}</td>"
                    f"<td>{_pct(t.student_logp)}</td><td>{_pct(t.teacher_logp)}</td>"
                    f"<td>{t.advantage:+.3f}</td><td>{rec.grpo_advantage:+.3f}</td>"
                    f"<td class=\"alts\">{alts}</td></tr>")
    table = ('<table class="credit" id="table-{r}"><thead><tr><th>#</th><th>token</th>'
             "<th>student p</th><th>teacher p</th><th>A_t (SDPO)</th><th>A (GRPO)</th>"
             "<th>teacher's top alternatives (teacher p / student p)</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>").replace("{r}", str(r))
    grpo_vals = [rec.grpo_advantage] * len(rec.tokens)
    return f"""<section class="record" id="record-{r}">
<h2>{html.escape(_title(rec, r))}</h2>
<dl class="ctx">{dl}</dl>
<details><summary>The teacher's message (prompt + hindsight)</summary>
<pre class="tokens">{html.escape(rec.teacher_message)}</pre></details>
{summary}
<div class="row"><div class="label">SDPO: A<sub>t</sub> per token<small>teacher minus student log-prob</small></div>
<pre class="tokens sdpo" id="sdpo-{r}">{_tokens_html(rec, r, adv, scale)}</pre></div>
<div class="row"><div class="label">GRPO: A = {rec.grpo_advantage:+.2f}<small>r &minus; mean(r), every token</small></div>
<pre class="tokens grpo" id="grpo-{r}">{_tokens_html(rec, r, grpo_vals, scale)}</pre></div>
<div class="legend"><span>{-scale:+.2f} blamed</span><span class="bar"></span><span>{scale:+.2f} preferred</span></div>
<details open><summary>Per-token table ({len(rec.tokens)} tokens; hover a token above for the same)</summary>
{table}</details>
</section>"""


def render_html(records: Sequence[CreditRecord], title: str = "Token credit") -> str:
    """One self-contained HTML page showing the records' per-token credit."""
    scale = scale_of(records)
    model = next((r.model for r in records if r.model), "")
    data = [{"tok": r.to_dict()["tok"], "grpo": r.grpo_advantage} for r in records]
    # No '<' at all inside the script element: nothing in it can close it or open a comment.
    blob = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    body = "\n".join(_record_html(r, i, scale) for i, r in enumerate(records))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="lede">Self-distillation gives each answer token its own advantage
<span class="formula">A<sub>t</sub> = log &pi;(y<sub>t</sub> | x, f, y<sub>&lt;t</sub>) &minus; log &pi;(y<sub>t</sub> | x, y<sub>&lt;t</sub>)</span>:
the same model scores the answer once with the hindsight f (the teacher) and once without
(the student). <b style="color:rgb(214,39,40)">Red</b>: the teacher finds the token less likely
(blamed); <b style="color:rgb(31,119,180)">blue</b>: more likely. GRPO gives every token of the
rollout the same advantage r &minus; mean(r). Colour scale &plusmn;{scale:.2f} for the whole page.
{("Model: <code>" + html.escape(model) + "</code>.") if model else ""}</p>
{body}
<div id="tip" hidden></div>
<script type="application/json" id="credit-data">{blob}</script>
<script>{_JS}</script>
</body></html>
"""


def write_html(records: Sequence[CreditRecord], path: str | Path,
               title: str = "Token credit") -> Path:
    """Write render_html(records) to path; return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(records, title), encoding="utf-8")
    return path


def _bar(v: float, scale: float, width: int = 10) -> str:
    n = min(width, round(width * abs(v) / scale)) if scale > 0 else 0
    return (" " * (width - n) + "-" * n + "|" + " " * width) if v < 0 else \
        (" " * width + "|" + "+" * n + " " * (width - n))


def render_text(rec: CreditRecord, max_rows: int | None = None) -> str:
    """The same numbers for a terminal: one row per token with a signed bar, then the summary."""
    scale = scale_of([rec])
    lines = [f"A_t = log p_teacher(y_t) - log p_student(y_t); GRPO gives every token "
             f"{rec.grpo_advantage:+.3f}",
             f"{'#':>4}  {'token':<16} {'student':>8} {'teacher':>8} {'A_t':>8}  "
             f"{'':<21}  teacher's top alternatives"]
    rows = rec.tokens if max_rows is None else rec.tokens[:max_rows]
    for i, t in enumerate(rows):
        alts = ", ".join(f"{_repr(a)} {_pct(tl)}" for a, tl, _ in t.alternatives[:3])
        lines.append(f"{i:>4}  {_repr(t.text)[:16]:<16} {_pct(t.student_logp):>8} "
                     f"{_pct(t.teacher_logp):>8} {t.advantage:>+8.3f}  "
                     f"{_bar(t.advantage, scale)}  {alts}")
    if max_rows is not None and len(rec.tokens) > max_rows:
        lines.append(f"... {len(rec.tokens) - max_rows} more tokens")
    lines.append(summary_line(rec))
    return "\n".join(lines)


def summary_line(rec: CreditRecord, n: int = 5) -> str:
    """One line: the most negative tokens with their A_t and position."""
    worst = rec.most_negative(n)
    adv = rec.advantages
    mean = sum(adv) / len(adv) if adv else 0.0
    listed = ", ".join(f"{_repr(t.text)!r} {t.advantage:+.2f} (#{i})" for i, t in worst) or "none"
    return f"most negative A_t: {listed}; mean A_t {mean:+.3f} over {len(adv)} tokens"


# ------------------------------------------------------------------------ run reports


def _slug(rec: CreditRecord) -> str:
    m = rec.meta
    parts = [str(m.get(k)) for k in ("method", "problem_id", "seed", "step", "sample_idx")
             if m.get(k) is not None]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts) or "rollout")[:120]


def credit_pages(run_dir: str | Path, top: int = 3) -> list[tuple[CreditRecord, Path]]:
    """Render the run's `top` most informative saved rollouts (largest peak) to RUN/credit/."""
    run_dir = Path(run_dir)
    path = run_dir / "credit.jsonl"
    if not path.is_file():
        return []
    ranked = sorted(load_records(path), key=lambda r: r.peak(), reverse=True)[:top]
    return [(r, write_html([r], run_dir / "credit" / f"{_slug(r)}.html",
                           f"Token credit: {_label(r) or run_dir.name}"))
            for r in ranked]


def _md_code(text: str) -> str:
    """A token inside a markdown table's code span: no backticks or bare pipes."""
    return _repr(text).replace("`", "\u2035").replace("|", "\\|")


def credit_section(run_dir: str | Path, top: int = 3) -> str:
    """A markdown section linking the run's most informative per-token credit pages ("" if none)."""
    run_dir = Path(run_dir)
    pages = credit_pages(run_dir, top)
    if not pages:
        return ""
    n = len(load_records(run_dir / "credit.jsonl"))
    rows = []
    for rank, (rec, page) in enumerate(pages, 1):
        m = rec.meta
        worst = ", ".join(f"`{_md_code(t.text)}` {t.advantage:+.2f}"
                          for _, t in rec.most_negative(3)) or "-"
        rows.append(f"| {rank} | {m.get('step', '-')} | {m.get('problem_id', '-')} | "
                    f"{m.get('sample_idx', '-')} | {m.get('context', '-')} | "
                    f"{rec.peak():.2f} | {worst} | [open]({page.relative_to(run_dir)}) |")
    return "\n".join([
        "## Token credit: what the teacher blamed",
        f"{n} rollouts' per-token credit were saved during the run (RUN/credit.jsonl). The "
        f"{len(pages)} where one token stands out most (peak = max |A_t - median A_t|) are "
        "rendered below; `selfdistill credit --run RUN --step N` renders any other.",
        "",
        "| # | step | problem | rollout | teacher context | peak | most negative A_t | page |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])


def append_credit_section(md_path: str | Path, top: int = 3) -> bool:
    """Append credit_section of md_path's run directory to the report; False if none saved."""
    md_path = Path(md_path)
    section = credit_section(md_path.parent, top)
    if section:
        md_path.write_text(md_path.read_text().rstrip("\n") + "\n\n" + section + "\n")
    return bool(section)

"""`ssd analyze`: what SSD did to the model's token distributions, at lock and fork positions.

The SSD paper (Zhang et al. 2026) explains self-distillation as support compression (the
truncated sampling support gets smaller) plus within-support reshaping, and splits token
positions into *locks* (one plausible token: SSD should remove distractor mass) and *forks*
(several plausible tokens: SSD should keep their diversity). This module measures that on
held-out reference solutions, teacher-forced (no sampling): every reference token is
scored by the base and the SSD model in one forward pass each.

Per position and model: entropy and top-1 mass of the raw (T=1) distribution, the log-prob
of the reference token, and -- under the recipe's training-time sampler (logits / T, then
top-k, then top-p on the renormalised survivors, as generation/sampling.py does) -- the size
of the kept support, the tempered mass *outside* it (the tail the sampler cuts) and the
entropy of the kept, renormalised distribution. Positions are classified once, by the base
model (lock: top-1 mass >= threshold, or truncated support <= threshold), so both models
are compared on the same positions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from selfdistill.core.console import progress_bar
from selfdistill.core.models import load_model
from selfdistill.core.records import read_jsonl, write_json_atomic
from selfdistill.distill.scoring import hidden_and_head, pack_sequences
from selfdistill.errors import UserError
from selfdistill.evaluation.report import markdown_table, pyplot
from selfdistill.evaluation.sweep import load_benchmark
from selfdistill.generation.chat import chat_token_ids
from selfdistill.prompts.task import build_chat

METRICS = ("entropy", "top1", "nll", "support", "tail", "trunc_entropy")
LABELS = {
    "entropy": "entropy (nats, T=1)",
    "top1": "top-1 mass (T=1)",
    "nll": "NLL of reference token",
    "support": "truncated support size",
    "tail": "tail mass beyond truncation",
    "trunc_entropy": "entropy inside truncation",
}


# ---------------------------------------------------------------- maths


def position_stats(logits: Tensor, targets: Tensor, temperature: float, top_k: int,
                   top_p: float) -> dict[str, Tensor]:
    """Per-row statistics of logits [N, V] (see the module docstring); each value is [N]."""
    if temperature <= 0:
        raise ValueError("the truncation set needs a sampling temperature > 0")
    x = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    logp = torch.log_softmax(x, dim=-1)
    p = logp.exp()
    entropy = -(p * logp).nan_to_num(0.0).sum(-1)  # 0 * -inf = nan -> 0
    top1 = p.max(-1).values
    nll = -logp.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)

    xt = x / temperature
    lse = torch.logsumexp(xt, dim=-1, keepdim=True)
    vocab = x.shape[-1]
    if 0 < top_k < vocab:
        vals = torch.topk(xt, top_k, dim=-1).values  # sorted descending
    else:
        vals = torch.sort(xt, dim=-1, descending=True).values
    full = vals - lse  # tempered log-probs over the whole vocabulary
    if top_p < 1.0:
        q = torch.softmax(vals, dim=-1)  # renormalised over the top-k survivors, as sampled
        keep = (torch.cumsum(q, dim=-1) - q) < top_p
        keep[..., 0] = True
    else:
        keep = torch.ones_like(vals, dtype=torch.bool)
    neg = torch.tensor(float("-inf"), dtype=full.dtype)
    kept = torch.where(keep, full, neg)
    log_kept = torch.logsumexp(kept, dim=-1)
    tail = (-torch.expm1(log_kept)).clamp(min=0.0)  # 1 - kept mass, without cancellation
    r = torch.log_softmax(kept, dim=-1)
    trunc_entropy = -(r.exp() * r).nan_to_num(0.0).sum(-1)
    return {"entropy": entropy, "top1": top1, "nll": nll, "support": keep.sum(-1).to(x.dtype),
            "tail": tail, "trunc_entropy": trunc_entropy}


def classify(base: dict[str, Tensor], by: str, threshold: float) -> Tensor:
    """True where the base model's position is a lock (one plausible token)."""
    if by == "top1":
        return base["top1"] >= threshold
    if by == "support":
        return base["support"] <= threshold
    raise ValueError(f"lock rule must be 'top1' or 'support', got {by!r}")


def default_threshold(by: str) -> float:
    """0.9 top-1 mass, or a truncated support of one token."""
    return 0.9 if by == "top1" else 1.0


# ---------------------------------------------------------------- data


@dataclass
class Reference:
    """One held-out problem's prompt and reference answer as token ids."""

    problem_id: str
    prompt_ids: list[int]
    answer_ids: list[int]


def reference_answer(reference: str) -> str:
    """A reference solution written the way the model is asked to answer: one python fence."""
    return f"```python\n{reference.strip()}\n```"


def build_references(problems: Sequence[Any], tok: Any) -> list[Reference]:
    """Chat prompt + fenced reference (+ EOS, where the model should stop) per problem."""
    out = []
    for p in problems:
        if not p.reference:
            continue
        answer = list(tok(reference_answer(p.reference), add_special_tokens=False)["input_ids"])
        if tok.eos_token_id is not None:
            answer.append(int(tok.eos_token_id))
        out.append(Reference(p.id, chat_token_ids(tok, build_chat(p)), answer))
    return out


@torch.no_grad()
def score_references(model: Any, refs: Sequence[Reference], pad_id: int, temperature: float,
                     top_k: int, top_p: float, batch_size: int = 4, chunk_size: int = 256,
                     on_batch: Callable[[int], None] | None = None) -> dict[str, Tensor]:
    """position_stats of every reference token, concatenated over refs in order.

    on_batch(k) is called after each forward pass with the number of references it scored.
    """
    model.eval()
    parts: list[dict[str, Tensor]] = []
    for s in range(0, len(refs), batch_size):
        batch = refs[s : s + batch_size]
        ids, attn, comp = pack_sequences([r.prompt_ids for r in batch],
                                         [r.answer_ids for r in batch], pad_id)
        hidden, head, softcap = hidden_and_head(model, ids, attn)
        rows, pos = comp.nonzero(as_tuple=True)  # row-major: refs in order, tokens in order
        h, targets = hidden[rows, pos - 1], ids[rows, pos]
        for c in range(0, h.shape[0], chunk_size):
            logits = head(h[c : c + chunk_size])
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            parts.append(position_stats(logits, targets[c : c + chunk_size],
                                        temperature, top_k, top_p))
        if on_batch is not None:
            on_batch(len(batch))
    return {m: torch.cat([p[m] for p in parts]) if parts else torch.zeros(0) for m in METRICS}


# ---------------------------------------------------------------- summary


@dataclass
class Analysis:
    """Per-position arrays of both models plus the classification and the settings used."""

    base: dict[str, Tensor]
    ssd: dict[str, Tensor]
    lock: Tensor
    problem_index: Tensor  # which reference each position belongs to
    settings: dict[str, Any] = field(default_factory=dict)


def _mean(x: Tensor) -> float | None:
    return float(x.double().mean()) if x.numel() else None


def bootstrap_delta(delta: Tensor, groups: Tensor, n_boot: int = 1000, seed: int = 0
                    ) -> list[float] | None:
    """95% percentile CI of the mean position delta, resampling whole problems."""
    if delta.numel() == 0:
        return None
    ng = int(groups.max()) + 1
    sums = torch.zeros(ng, dtype=torch.float64).index_add_(0, groups, delta.double())
    counts = torch.zeros(ng, dtype=torch.float64).index_add_(
        0, groups, torch.ones_like(delta, dtype=torch.float64))
    present = counts > 0
    sums, counts = sums[present], counts[present]
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, sums.numel(), (n_boot, sums.numel()), generator=g)
    means = sums[pick].sum(-1) / counts[pick].sum(-1)
    lo, hi = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64))
    return [float(lo), float(hi)]


def summarize(a: Analysis) -> dict[str, Any]:
    """Means per class (all / lock / fork) for base and SSD, deltas with problem-bootstrap CIs."""
    classes = {"all": torch.ones_like(a.lock), "lock": a.lock, "fork": ~a.lock}
    out: dict[str, Any] = {"settings": a.settings, "classes": {}}
    for name, sel in classes.items():
        row: dict[str, Any] = {"positions": int(sel.sum())}
        for m in METRICS:
            b, s = a.base[m][sel], a.ssd[m][sel]
            row[m] = {"base": _mean(b), "ssd": _mean(s), "delta": _mean(s - b),
                      "ci": bootstrap_delta(s - b, a.problem_index[sel])}
        out["classes"][name] = row
    by, thr = a.settings["lock_by"], a.settings["lock_threshold"]
    ssd_lock = classify(a.ssd, by, thr)
    n = max(int(a.lock.numel()), 1)
    out["lock_rate"] = {"base": int(a.lock.sum()) / n, "ssd": int(ssd_lock.sum()) / n,
                        "fork_to_lock": int((~a.lock & ssd_lock).sum()) / n,
                        "lock_to_fork": int((a.lock & ~ssd_lock).sum()) / n}
    return out


# Rows of the headline table: (class, metric, what it says).
TABLE_ROWS = (
    ("all", "support", "support compression"),
    ("all", "tail", "mass the sampler cuts"),
    ("lock", "top1", "lock: mass on the top token"),
    ("lock", "tail", "lock: distractor mass beyond truncation"),
    ("lock", "nll", "lock: NLL of the reference token"),
    ("fork", "entropy", "fork: entropy (diversity)"),
    ("fork", "trunc_entropy", "fork: entropy inside truncation"),
    ("fork", "support", "fork: truncated support size"),
    ("fork", "nll", "fork: NLL of the reference token"),
)


def _fmt(x: float | None, m: str) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f}" if m == "support" else f"{x:.3f}"


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    """The headline rows: what, base, SSD, delta [95% CI over problems]."""
    rows = []
    for cls, m, what in TABLE_ROWS:
        e = summary["classes"][cls][m]
        ci = e["ci"]
        delta = "n/a" if e["delta"] is None else f"{e['delta']:+.3f}"
        if ci:
            delta += f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"
        rows.append([what, LABELS[m], _fmt(e["base"], m), _fmt(e["ssd"], m), delta])
    return rows


TABLE_HEADERS = ("what", "metric", "base", "SSD", "SSD - base [95% CI]")


def markdown_report(summary: dict[str, Any], plots: Sequence[Path]) -> str:
    """lockfork.md: the settings, the lock/fork table and the plots."""
    s, c, lr = summary["settings"], summary["classes"], summary["lock_rate"]
    lines = [
        "# SSD lock/fork analysis",
        f"Base `{s['base_model']}` vs SSD `{s['ssd_model']}`, teacher-forced on "
        f"{s['problems']} held-out reference solutions from `{s['benchmark']}` "
        f"({c['all']['positions']} token positions; {s['excluded']} problems excluded "
        "because their ids are in the SSD training samples).",
        f"Truncation set: logits / T={s['temperature']:g}, top-k {s['top_k']}, top-p "
        f"{s['top_p']:g} (the recipe's training-time sampler). Lock rule (base model): "
        f"{'top-1 mass >= ' if s['lock_by'] == 'top1' else 'truncated support <= '}"
        f"{s['lock_threshold']:g}: {c['lock']['positions']} locks, "
        f"{c['fork']['positions']} forks.",
        markdown_table(TABLE_HEADERS, table_rows(summary)),
        f"Positions that are locks by the same rule: base {100 * lr['base']:.1f}%, SSD "
        f"{100 * lr['ssd']:.1f}% (fork -> lock {100 * lr['fork_to_lock']:.1f}%, lock -> fork "
        f"{100 * lr['lock_to_fork']:.1f}%). CIs are 95% percentile bootstraps over problems.",
        *[f"![{p.stem}]({p.name})" for p in plots],
    ]
    return "\n\n".join(lines) + "\n"


def plot_histograms(a: Analysis, out_dir: Path) -> list[Path]:
    """One figure per metric: lock and fork panels, base vs SSD histograms overlaid."""
    plt = pyplot()
    paths = []
    for m in ("entropy", "top1", "support", "tail"):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, (name, sel) in zip(axes, (("lock", a.lock), ("fork", ~a.lock)), strict=True):
            b, s = a.base[m][sel].double().numpy(), a.ssd[m][sel].double().numpy()
            if m == "support":
                hi = max(b.max() if b.size else 1, s.max() if s.size else 1)
                bins: Any = [x + 0.5 for x in range(int(hi) + 1)]
            else:
                bins = 30
            ax.hist([b, s], bins=bins, label=["base", "SSD"], alpha=0.8)
            ax.set_title(f"{name} positions (n={int(sel.sum())})")
            ax.set_xlabel(LABELS[m])
            ax.set_ylabel("positions")
            ax.legend()
        fig.tight_layout()
        path = out_dir / f"lockfork_{m}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def save(a: Analysis, summary: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write lockfork.json, positions.pt, the plots and lockfork.md into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "lockfork.json", summary)
    torch.save({"base": a.base, "ssd": a.ssd, "lock": a.lock,
                "problem_index": a.problem_index, "settings": a.settings},
               out_dir / "positions.pt")
    plots = plot_histograms(a, out_dir)
    md = out_dir / "lockfork.md"
    md.write_text(markdown_report(summary, plots))
    return {"json": out_dir / "lockfork.json", "markdown": md,
            **{p.stem: p for p in plots}}


def rich_table(summary: dict[str, Any]) -> Any:
    """The headline table for the terminal."""
    from rich.table import Table

    c = summary["classes"]
    t = Table(title=f"SSD lock/fork analysis ({c['lock']['positions']} locks, "
                    f"{c['fork']['positions']} forks)")
    for h in TABLE_HEADERS:
        t.add_column(h, justify="left" if h in ("what", "metric") else "right")
    for row in table_rows(summary):
        t.add_row(*row)
    return t


# ---------------------------------------------------------------- recipe


def _training_ids(run_dir: Path) -> set[str]:
    path = run_dir / "sample" / "samples.jsonl"
    return {str(r.get("problem_id")) for r in read_jsonl(path)} if path.exists() else set()


def run_analyze(cfg: Any, run_dir: Path, *, benchmark: str = "humaneval",
                limit: int | None = None, ssd_model: str | None = None,
                lock_by: str = "top1", lock_threshold: float | None = None,
                batch_size: int = 4) -> tuple[dict[str, Any], dict[str, Path]]:
    """Score held-out references with the base and SSD models; write RUN/analyze/."""
    s = cfg.sample
    if lock_by not in ("top1", "support"):
        raise UserError(f"--lock-by must be 'top1' or 'support', got '{lock_by}'.")
    thr = default_threshold(lock_by) if lock_threshold is None else float(lock_threshold)
    if s.temperature <= 0:
        raise UserError("sample.temperature must be > 0: the truncation set is the sampler's.")
    if ssd_model is None and not (run_dir / "train" / "final").exists():
        raise UserError(f"No SSD model at {run_dir / 'train' / 'final'}: run "
                        "`selfdistill ssd train` first.")
    ssd_model = ssd_model or str(run_dir / "train" / "final")
    if benchmark == s.source:
        raise UserError(f"'{benchmark}' is the SSD training source; analyze held-out problems.")
    problems = load_benchmark(benchmark, None)
    trained = _training_ids(run_dir)
    held = [p for p in problems if p.id not in trained and p.reference]
    excluded = sum(p.id in trained for p in problems)
    held = held[:limit] if limit else held
    if not held:
        raise UserError(f"No held-out problems with a reference solution in '{benchmark}'.")

    stats, refs = {}, None
    with progress_bar() as bar:  # forward passes only, but minutes on a CPU for 164 references
        for label, spec in (("base", cfg.model.spec), ("ssd", ssd_model)):
            model, tok = load_model(spec, dtype=cfg.model.dtype)
            if refs is None:
                refs = build_references(held, tok)
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            task = bar.add_task(f"scoring references ({label})", total=len(refs), info="")
            stats[label] = score_references(
                model, refs, int(pad), s.temperature, s.top_k, s.top_p, batch_size=batch_size,
                on_batch=lambda k, task=task: bar.advance(task, k))
            del model
    assert refs is not None
    index = torch.cat([torch.full((len(r.answer_ids),), i, dtype=torch.long)
                       for i, r in enumerate(refs)])
    settings = {"base_model": cfg.model.spec, "ssd_model": ssd_model, "benchmark": benchmark,
                "problems": len(refs), "excluded": excluded, "temperature": s.temperature,
                "top_k": s.top_k, "top_p": s.top_p, "lock_by": lock_by,
                "lock_threshold": thr}
    a = Analysis(stats["base"], stats["ssd"], classify(stats["base"], lock_by, thr), index,
                 settings)
    summary = summarize(a)
    return summary, save(a, summary, run_dir / "analyze")

"""Kill every long command at random moments and check that nothing is lost or different.

For each command (the embedded model, tiny settings): run it once uninterrupted into a
reference directory and time it (T). Then, in fresh directories, start it and send a
signal at a uniformly random moment in [0, T) (SIGKILL mostly; SIGINT and SIGTERM at some),
start it again with the same arguments, and so on until a run exits 0; repeat with new
directories until the command has been killed --kills times. After each finished trial:

- the final records equal the reference's: same keys (none lost), no key twice, the same
  values (samples, verdicts, metrics, ...), the same final weights where training is
  deterministic on CPU (timing fields are left out of the comparison);
- nothing is left behind: no *.tmp / *.part* / .tmp-* / tmp-checkpoint files, no
  process of the killed run's process tree still alive after the kill, no lock held.

A SIGINT/SIGTERM must end the run with a non-zero exit within a grace period, and without
a traceback. Exit 0 after one is right only when the work was complete when it arrived (it
landed while a finished run tore down): none of the run's record files may be written after
the signal (else the command swallowed it and carried on; a write under way may finish within
WRITE_SLACK_S), and the records must then equal the reference's.

    python scripts/chaos.py --kills 2                  # CI size: every command >= 2 kills
    python scripts/chaos.py --kills 20 --out table.md  # nightly size
    python scripts/chaos.py --commands evaluate,sdpo-train --kills 3 --seed 1
    # in 14-minute slices (a job limit): the same command again continues the campaign
    python scripts/chaos.py --kills 20 --root DIR --budget 14 --out table.md

Prints one table row per command: kills reached (N), trials, kills (by signal), resumes,
lost, duplicated and different records, leftovers. Exit 1 when any row is not all zeros,
3 when --budget ran out first. With --budget, every start is one step of a campaign whose
state (ROOT/chaos-state.json) is saved after it, and each start's moment and signal come
from its own stream (seed, command, trial, start), so a campaign cut into slices draws
what one uninterrupted campaign would.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m-instruct"  # --model changes it (tests: a tiny random model)
VOLATILE = {"time", "seconds", "seconds_generate", "seconds_grade", "seconds_total",
            "seconds_step", "elapsed", "elapsed_s", "wall_s", "started", "created",
            "train_runtime", "train_samples_per_second", "train_steps_per_second",
            "tokens_per_s", "duration", "result", "seconds_to_success", "seconds_used",
            "timings", "t", "wall",
            # which sandbox worker (its uid) graded a job: a host fact, not part of the verdict
            "isolation"}


def set_model(spec: str | None) -> None:
    """The model spec every command runs (None: the embedded model)."""
    global MODEL
    MODEL = spec or "smollm2-135m-instruct"


# ---------------------------------------------------------------- records


def _strip(x: Any) -> Any:
    """x without timing fields (they differ between any two runs)."""
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items()
                if k not in VOLATILE and not k.startswith("seconds") and not k.endswith("_s")}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def _rows(path: Path) -> list[dict[str, Any]]:
    """Every complete JSONL row (a torn tail is ignored, as the readers do)."""
    out = []
    if not path.is_file():
        return out
    for raw in path.read_bytes().split(b"\n")[:-1]:
        if raw.strip():
            out.append(json.loads(raw))
    return out


def jsonl(rel: str, key: Callable[[dict[str, Any]], Any]) -> Callable[[Path], dict[str, Any]]:
    """Records of RUN/rel keyed by key(row); a key seen twice is kept as a duplicate marker."""

    def read(run: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path in sorted(run.glob(rel)):
            for r in _rows(path):
                k = f"{path.relative_to(run)}:{key(r)}"
                out[k if k not in out else k + "#DUP" + str(len(out))] = _strip(r)
        return out

    read.pattern = rel  # type: ignore[attr-defined]
    return read


def json_file(rel: str) -> Callable[[Path], dict[str, Any]]:
    """A JSON file (results.json, grid.json, ...) as one record."""

    def read(run: Path) -> dict[str, Any]:
        return {str(p.relative_to(run)): _strip(json.loads(p.read_text()))
                for p in sorted(run.glob(rel))}

    read.pattern = rel  # type: ignore[attr-defined]
    return read


def weights(rel: str) -> Callable[[Path], dict[str, Any]]:
    """The tensors of every *.safetensors under RUN/rel, as one hash per file."""

    def read(run: Path) -> dict[str, Any]:
        from safetensors import safe_open

        out = {}
        for p in sorted(run.glob(rel)):
            h = hashlib.sha256()
            with safe_open(str(p), "pt") as f:
                for name in sorted(f.keys()):
                    t = f.get_tensor(name)
                    h.update(name.encode())
                    h.update(t.float().numpy().tobytes())
            out[str(p.relative_to(run))] = h.hexdigest()
        return out

    read.pattern = rel  # type: ignore[attr-defined]
    return read


def _key_sample(r: dict[str, Any]) -> str:
    return f"{r['problem_id']}#{r['sample_idx']}"


# ---------------------------------------------------------------- commands


@dataclass
class Command:
    """One long command: its arguments in a run dir, what to compare, what it needs first."""

    name: str
    argv: Callable[[Path], list[str]]
    records: list[Callable[[Path], dict[str, Any]]]
    needs: str | None = None  # a command whose reference run dir this one starts from
    copy: list[str] = field(default_factory=list)  # what to copy from that run dir
    # An interactive session (the agent) is not re-run after a kill: `reopen` opens its
    # profile again, and what is committed must be a prefix of the uninterrupted run's.
    reopen: Callable[[Path], list[str]] | None = None


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "selfdistill.cli", *args]


_SSD = ["sample.source=builtin:train?kind=assert,call", "sample.limit=3", "sample.n=2",
        "sample.temperature=0.8", "sample.max_new_tokens=40", "sample.batch_size=2",
        "sample.workers=1", "sample.truncated=keep", "sample.stub_rule=none",
        "model.infer_dtype=float32", "train.method=lora",
        "train.batch_size=1", "train.grad_accum=1", "train.save_steps=1", "train.bf16=false",
        "train.logging_steps=1", "train.max_seq_len=256", "train.lr=1e-4",
        "eval.benchmark=humaneval", "eval.limit=2", "eval.n=2", "eval.temperatures=0.8",
        "eval.top_k=20", "eval.top_p=0.8", "eval.max_new_tokens=40", "eval.batch_size=2",
        "eval.workers=1"]


def _ssd() -> list[str]:
    return [f"model.spec={MODEL}", *_SSD]


_SAMPLES = [jsonl("sample/samples.jsonl", _key_sample), json_file("sample/stats.json")]
_EVAL = [jsonl("eval/*/T*/samples.jsonl", _key_sample),
         jsonl("eval/*/T*/verdicts.jsonl", _key_sample), json_file("results.json")]

# Settings as small as still meaningful: each command has at least two units of work it
# resumes between (batches, steps, runs, updates); start-up (imports, model load, the
# sandbox) is most of a run on the embedded model, so smaller still would not be cheaper.
COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command("evaluate", lambda d: _cli(
        "evaluate", "--model", MODEL, "--benchmark", "humaneval", "--limit", "2", "--n", "2",
        "--temperature", "0.8", "--max-new-tokens", "40", "--batch-size", "2",
        "--run-dir", str(d)),
        [jsonl("model/T*/samples.jsonl", _key_sample),
         jsonl("model/T*/verdicts.jsonl", _key_sample), json_file("results.json")]),
    Command("ssd-sample", lambda d: _cli("ssd", "sample", f"run_dir={d}", *_ssd()), _SAMPLES),
    Command("ssd-train", lambda d: _cli("ssd", "train", f"run_dir={d}", *_ssd()),
            [weights("train/final/*.safetensors")], needs="ssd-sample", copy=["sample"]),
    Command("ssd-evaluate", lambda d: _cli("ssd", "evaluate", f"run_dir={d}", *_ssd()), _EVAL,
            needs="ssd-train", copy=["sample", "train/final"]),
    Command("ssd-grid", lambda d: _cli(
        "ssd", "grid", f"run_dir={d}", *_ssd(), "grid.train_temperatures=0.8",
        "grid.eval_temperatures=0.8"),
        [jsonl("grid/*/sample/samples.jsonl", _key_sample),
         weights("grid/*/train/final/*.safetensors"),
         jsonl("grid/*/eval/T*/samples.jsonl", _key_sample),
         jsonl("grid/*/eval/T*/verdicts.jsonl", _key_sample), json_file("grid.json")]),
    Command("sdpo-train", lambda d: _cli(
        "sdpo", "train", str(REPO / "recipes" / "sdpo_cpu.yaml"), f"run_dir={d}",
        f"model.spec={MODEL}", "steps=2",
        "save_every=1", "data.limit=3", "data.prompts_per_step=1", "rollout.n=2",
        "rollout.max_new_tokens=40", "rollout.batch_size=2", "loss.micro_batch_size=2"),
        [jsonl("metrics.jsonl", lambda r: f"{r['kind']}@{r['step']}"),
         jsonl("rollouts.jsonl", lambda r: f"{r['step']}/{r['rank']}/{_key_sample(r)}"),
         weights("final/*.safetensors")]),
    Command("discover", lambda d: _cli(
        "discover", "--problem", "builtin/easy-average", "--source", "builtin:dev",
        "--method", "sdpo,best_of_k,multiturn", "--budget", "4", "--batch", "2",
        "--seeds", "1", "--max-new-tokens", "40", "--model", MODEL, "--run-dir", str(d)),
        [jsonl("results.jsonl", lambda r: f"{r['method']}/{r['problem_id']}/{r['seed']}"),
         jsonl("runs/*/*/seed-*.jsonl", lambda r: f"{r.get('step', r.get('event'))}")]),
    Command("discover-bench", lambda d: _cli(
        "discover-bench", "--problems", "builtin:dev?difficulty=easy", "--limit", "2",
        "--methods", "sdpo,best_of_k", "--budget", "4", "--batch", "2", "--seeds", "1",
        "--max-new-tokens", "40", "--model", MODEL, "--run-dir", str(d)),
        [jsonl("results.jsonl", lambda r: f"{r['method']}/{r['problem_id']}/{r['seed']}"),
         jsonl("runs/*/*/seed-*.jsonl", lambda r: f"{r.get('step', r.get('event'))}")]),
    Command("assist-learn", lambda d: [
        *_cli("assist", "learn", "--profile", "chaos", "--log", str(d / "log.jsonl"),
              "--home", str(d / "home"), "--batch-size", "1", "--steps", "2",
              "--model", MODEL)],
        [json_file("home/chaos/state.json"),
         jsonl("home/chaos/updates.jsonl", lambda r: f"{r.get('event')}@{r.get('version')}"),
         weights("home/chaos/adapters/v*/*.safetensors")]),
]}

def _agent(d: Path, script: str) -> list[str]:
    return _cli("agent", "--workspace", str(d / "ws"), "--profile", "chaos", "--home",
                str(d / "home"), "--model", MODEL, "--script", str(d / script),
                "--steps", "2", "--max-new-tokens", "16")


COMMANDS["agent-update"] = Command(
    "agent-update", lambda d: _agent(d, "agent.yaml"),
    [json_file("home/chaos/state.json"),
     json_file("home/chaos/adapters/v*/update.json"),
     weights("home/chaos/adapters/v*/*.safetensors")],
    reopen=lambda d: _agent(d, "reopen.yaml"))


def _write_call(name: str) -> str:
    code = f"import os\n\n\ndef {name}_path(home):\n    return os.path.join(home, {name!r})\n"
    return "<tool_call>" + json.dumps({"name": "write", "arguments": {
        "path": f"{name}.py", "content": code}}) + "</tool_call>"


_AGENT_SCRIPT = [item for name in ("config", "paths", "cache") for item in (
    {"user": f"Create {name}.py with a function {name}_path(home) returning home/{name}."},
    {"model": _write_call(name)}, {"deny": "Use pathlib, not os.path."},
    {"model": "Understood."})]

_ASSIST_LOG = [
    {"prompt": "Write a function add(a, b) that returns their sum.",
     "answer": "def add(a, b):\n    return a + b", "followup": "Add type hints, please."},
    {"prompt": "Write is_even(n).", "answer": "def is_even(n):\n    return n % 2 == 0",
     "followup": "Use a docstring."},
    {"prompt": "Reverse a string s.", "answer": "def rev(s):\n    return s[::-1]",
     "followup": "Name it reverse_string."},
]


def _prepare(cmd: Command, run: Path, refs: dict[str, Path]) -> None:
    """A fresh run dir holding what the command starts from (its inputs, a previous stage)."""
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    if cmd.name == "assist-learn":
        (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _ASSIST_LOG))
    if cmd.name == "agent-update":
        import yaml

        (run / "ws").mkdir()
        (run / "agent.yaml").write_text(yaml.safe_dump(_AGENT_SCRIPT))
        (run / "reopen.yaml").write_text(yaml.safe_dump(["/history"]))
    if cmd.needs:
        for rel in cmd.copy:
            shutil.copytree(refs[cmd.needs] / rel, run / rel)


# ---------------------------------------------------------------- processes


def _children(pid: int) -> set[int]:
    """pid's whole process tree (pid excluded), from /proc."""
    kids: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(p.name))
    out, todo = set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO / "src"))
    return env


def _default_signals() -> None:
    """In the child: SIGINT/SIGTERM as a user's shell leaves them. A harness started in the
    background (`cmd &`) inherits SIGINT ignored, and so would every command it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class Outcome:
    """How one start of a command ended."""

    rc: int | None
    killed_with: str | None
    seconds: float
    orphans: list[int]
    stderr_tail: str
    signalled_at: float | None = None  # wall clock (time.time()) when the signal was sent


def run_once(argv: list[str], cwd: Path, kill_at: float | None, sig: int, log: Path,
             grace: float = 60.0, timeout: float = 900.0) -> Outcome:
    """Start argv; at kill_at seconds send sig to it (not its children: a real kill -9).

    A run that takes longer than timeout is killed and reported (exit code None)."""
    t0 = time.monotonic()
    with log.open("ab") as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=err, stderr=err,
                                start_new_session=True, preexec_fn=_default_signals)
        tree: set[int] = set()
        killed = None
        signalled_at = None
        try:
            if kill_at is None:
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    tree |= _children(proc.pid)
                    proc.kill()
                    proc.wait()
                    killed = "timeout"
            else:
                while proc.poll() is None and time.monotonic() - t0 < kill_at:
                    tree |= _children(proc.pid)
                    time.sleep(0.05)
                if proc.poll() is None:
                    tree |= _children(proc.pid)
                    signalled_at = time.time()
                    proc.send_signal(sig)
                    killed = signal.Signals(sig).name
                    try:
                        proc.wait(timeout=grace)
                    except subprocess.TimeoutExpired:  # ignored SIGINT/SIGTERM: a finding
                        proc.kill()
                        proc.wait()
                        killed += " (hung: SIGKILL after grace)"
        finally:
            if proc.poll() is None:  # the harness itself is stopping: the whole tree goes
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    # What the dead process started must go too (PDEATHSIG, pool shutdown): give it 10 s.
    deadline = time.monotonic() + 10
    orphans = [p for p in tree if _alive(p)]
    while orphans and time.monotonic() < deadline:
        time.sleep(0.2)
        orphans = [p for p in orphans if _alive(p)]
    for p in orphans:  # clean up, and report it
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    rc = None if killed == "timeout" else proc.returncode
    return Outcome(rc, None if killed == "timeout" else killed, time.monotonic() - t0, orphans,
                   "\n".join(tail), signalled_at)


# ---------------------------------------------------------------- checks

LEFTOVER_GLOBS = ["**/*.tmp", "**/*.tmp.*", "**/*.part*.jsonl", "**/.tmp-*", "**/tmp-checkpoint*",
                  "**/final.tmp", "**/step-*.tmp"]


def leftovers(run: Path) -> list[str]:
    """Temporary files a finished run should not hold, and locks still held."""
    import fcntl

    out = sorted({str(p.relative_to(run)) for g in LEFTOVER_GLOBS for p in run.glob(g)})
    for lock in run.glob("**/.lock"):
        with lock.open("a") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            except BlockingIOError:
                out.append(f"{lock.relative_to(run)} (held)")
    return out


def _relative(x: Any, run: str) -> Any:
    """x with the run directory's path written as RUN (two trials live in two dirs)."""
    if isinstance(x, str):
        return x.replace(run, "RUN")
    if isinstance(x, dict):
        return {k: _relative(v, run) for k, v in x.items()}
    if isinstance(x, list):
        return [_relative(v, run) for v in x]
    return x


def collect(cmd: Command, run: Path) -> dict[str, Any]:
    """Every record the command's checks compare."""
    out: dict[str, Any] = {}
    for read in cmd.records:
        out.update(read(run))
    return _relative(out, str(run))


# A write already under way when a signal arrives may still complete: Python runs its
# handler only when the C call it is in (a file write, a rename) returns.
WRITE_SLACK_S = 1.0


def written_after(cmd: Command, run: Path, when: float, slack: float = WRITE_SLACK_S
                  ) -> list[tuple[str, float]]:
    """The command's record files last written more than slack seconds after `when` (wall
    clock), with how long after: what a run did after a signal arrived."""
    late = []
    for read in cmd.records:
        for p in sorted(run.glob(read.pattern)):  # type: ignore[attr-defined]
            after = p.stat().st_mtime - when
            if after > slack:
                late.append((str(p.relative_to(run)), after))
    return late


def compare(ref: dict[str, Any], got: dict[str, Any], prefix: bool = False
            ) -> dict[str, list[str]]:
    """Keys lost, duplicated and different between the reference and a resumed run
    (prefix: a killed session's records may stop early, so none count as lost, but the
    pointer must name exactly the versions there)."""
    dup = [k for k in got if "#DUP" in k]
    base = {k: v for k, v in got.items() if "#DUP" not in k}
    shared = set(ref) & set(base)
    if prefix:
        state = "home/chaos/state.json"
        shared.discard(state)
        stack = (base.get(state) or {}).get("stack", [])
        have = sorted(int(k.split("/v")[1][:4]) for k in base
                      if "/adapters/v" in k and k.endswith("update.json"))
        bad = [] if have == [v for v in stack if v > 0] else [f"{state} {stack} vs {have}"]
        return {"lost": [], "extra": sorted(set(base) - set(ref) - {state}), "duplicated": dup,
                "different": sorted(k for k in shared if ref[k] != base[k]) + bad}
    return {"lost": sorted(set(ref) - set(base)), "extra": sorted(set(base) - set(ref)),
            "duplicated": dup,
            "different": sorted(k for k in shared if ref[k] != base[k])}


# ---------------------------------------------------------------- driver


@dataclass
class Row:
    """One command's chaos result."""

    command: str
    reference_s: float = 0.0
    trials: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    resumes: int = 0
    lost: int = 0
    duplicated: int = 0
    different: int = 0
    leftovers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # starts cut short by the harness's own stop (its time budget or a SIGTERM to it): not
    # kills at a random moment, so not counted as kills; the next start resumes them
    harness_stops: int = 0
    # T, the window kill moments are drawn from: the fastest uninterrupted run from scratch
    # (the reference's own start is often slower: cold file caches)
    window_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was lost, duplicated, different or left behind."""
        return not (self.lost or self.duplicated or self.different or self.leftovers
                    or self.errors)

    @property
    def n_kills(self) -> int:
        """Kills made so far."""
        return sum(self.kills.values())


@dataclass
class Progress:
    """Where a command's campaign stands: one start (a kill-resume cycle) at a time, so a
    campaign can stop after any start and continue in another process (--state)."""

    row: Row
    reference: bool = False  # the uninterrupted reference run is done
    trial_start: int | None = None  # the open trial's next start (None: no trial open)
    in_flight: bool = False  # a start was running when the harness last stopped
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        """The state file's entry."""
        return {"row": self.row.__dict__, "reference": self.reference,
                "trial_start": self.trial_start, "in_flight": self.in_flight,
                "done": self.done}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Progress:
        """Back from to_json."""
        return cls(Row(**d["row"]), d["reference"], d["trial_start"], d["in_flight"],
                   d["done"])


def _signal_for(n_kills: int, kills: int, signals_every: int, rng: random.Random) -> int:
    """Every signals_every-th kill (the last one of a short run) is SIGINT/SIGTERM."""
    if (n_kills + 1) % min(signals_every, kills):
        return signal.SIGKILL
    return rng.choice([signal.SIGINT, signal.SIGTERM])


def _new_log(log: Path, since: int) -> str:
    """What a start wrote to its log (the log collects every start of a trial)."""
    if not log.exists():
        return ""
    with log.open("rb") as fh:
        fh.seek(since)
        return fh.read().decode(errors="replace")


def step(cmd: Command, st: Progress, root: Path, refs: dict[str, Path], kills: int,
         seed: int, signals_every: int = 4, max_starts: int = 40,
         say: Callable[[str], None] = print) -> None:
    """One start of cmd: the reference run, or one (killed or final) start of a trial."""
    row = st.row
    ref = root / cmd.name / "reference"
    if not st.reference:
        _prepare(cmd, ref, refs)
        out = run_once(cmd.argv(ref), root, None, signal.SIGKILL, ref / "chaos.log")
        if out.rc != 0:
            row.errors.append(f"reference run failed (exit {out.rc}): {out.stderr_tail}")
            st.done = True
            return
        (ref / ".chaos-reference-ok").write_text(f"{out.seconds}\n")
        refs[cmd.name] = ref
        row.reference_s = out.seconds
        row.leftovers += [f"reference: {x}" for x in leftovers(ref)]
        st.reference = True
        say(f"{cmd.name}: reference {out.seconds:.0f} s, {len(collect(cmd, ref))} records")
        return
    refs[cmd.name] = ref
    if st.trial_start is None:
        row.trials += 1
        _prepare(cmd, root / cmd.name / f"trial-{row.trials}", refs)
        st.trial_start = 0
    run = root / cmd.name / f"trial-{row.trials}"
    start = st.trial_start
    # Each start's moment and signal from its own stream: a resumed campaign draws the same.
    rng = random.Random(f"{seed}/{cmd.name}/{row.trials}/{start}")
    log = run / "chaos.log"
    if cmd.reopen is not None:  # a session: one kill, then its profile is reopened
        _kill_session(cmd, run, row.reference_s, row.n_kills, kills, signals_every, rng, row,
                      say)
        _finish_trial(cmd, st, ref, run, say, prefix=True)
    else:
        sig = _signal_for(row.n_kills, kills, signals_every, rng)
        window = row.window_s or row.reference_s
        kill_at = rng.uniform(0, window) if row.n_kills < kills else None
        since = log.stat().st_size if log.exists() else 0
        res = run_once(cmd.argv(run), root, kill_at, sig, log)
        st.trial_start = start + 1
        if start:
            row.resumes += 1
        if res.orphans:
            row.leftovers.append(f"trial {row.trials}: {len(res.orphans)} process(es) "
                                 f"alive after {res.killed_with}")
        if res.killed_with:
            name = res.killed_with.split()[0]
            row.kills[name] = row.kills.get(name, 0) + 1
            if "hung" in res.killed_with:
                row.errors.append(f"trial {row.trials}: {res.killed_with}")
            elif res.rc == 0 and name == "SIGKILL":
                row.errors.append(f"trial {row.trials}: exit 0 after {name}")
            elif res.rc == 0:
                say(f"  trial {row.trials}: {name} at {kill_at:.1f} s (exit 0)")
                _exit_0_after_signal(cmd, st, ref, run, name, res.signalled_at, say)
                if row.n_kills >= kills:
                    st.done = True
                return
            elif name != "SIGKILL" and "Traceback" in _new_log(log, since):
                row.errors.append(f"trial {row.trials}: a traceback after {name}")
            say(f"  trial {row.trials}: {name} at {kill_at:.1f} s (exit {res.rc})")
            if st.trial_start < max_starts:
                return
            row.errors.append(f"trial {row.trials}: still not finished after {max_starts} "
                              "starts")
        elif res.rc != 0:
            row.errors.append(f"trial {row.trials}: resume failed (exit {res.rc}): "
                              f"{res.stderr_tail}")
        elif start == 0:  # a whole run, never killed: a truer T than a cold reference
            row.window_s = min(window, res.seconds)
        _finish_trial(cmd, st, ref, run, say)
    if row.n_kills >= kills and st.trial_start is None:
        st.done = True


def _exit_0_after_signal(cmd: Command, st: Progress, ref: Path, run: Path, name: str,
                         signalled_at: float | None, say: Callable[[str], None]) -> None:
    """A SIGINT/SIGTERM after which the run exited 0: right only if its work was complete
    when the signal arrived (it landed while a finished run tore down). Decided from the
    run's own records: none may have been written after the signal (else the command
    swallowed it and carried on), and they must equal the reference's now (a run that
    stopped early must not say it succeeded). Either way the trial is over."""
    row = st.row
    late = written_after(cmd, run, signalled_at) if signalled_at is not None else []
    if late:
        what = ", ".join(f"{f} {s:.1f} s" for f, s in late[:3])
        row.errors.append(f"trial {row.trials}: exit 0 after {name}, but the work was not "
                          f"done when it arrived (written after it: {what}): the command "
                          "carried on")
    else:
        say(f"  trial {row.trials}: {name} landed after the work was done (its records "
            "predate it)")
    _finish_trial(cmd, st, ref, run, say)


def _finish_trial(cmd: Command, st: Progress, ref: Path, run: Path,
                  say: Callable[[str], None], prefix: bool = False) -> None:
    """Compare a finished trial with the reference; close it."""
    row = st.row
    diff = compare(collect(cmd, ref), collect(cmd, run), prefix=prefix)
    row.lost += len(diff["lost"])
    row.duplicated += len(diff["duplicated"]) + len(diff["extra"])
    row.different += len(diff["different"])
    for kind, keys in diff.items():
        if keys:
            say(f"  trial {row.trials}: {kind}: {keys[:5]}")
    row.leftovers += [f"trial {row.trials}: {x}" for x in leftovers(run)]
    st.trial_start = None


def chaos_command(cmd: Command, root: Path, refs: dict[str, Path], kills: int,
                  seed: int = 0, signals_every: int = 4, max_starts: int = 40,
                  say: Callable[[str], None] = print) -> Row:
    """Reference run, then trials with random kills until `kills` kills; compare each trial."""
    st = Progress(Row(cmd.name))
    while not st.done:
        step(cmd, st, root, refs, kills, seed, signals_every, max_starts, say)
    return st.row


def _kill_session(cmd: Command, run: Path, seconds: float, n_kills: int, kills: int,
                  signals_every: int, rng: random.Random, row: Row,
                  say: Callable[[str], None]) -> int:
    """Kill a session once at a random moment, then reopen its profile; kills made (0/1)."""
    sig = _signal_for(n_kills, kills, signals_every, rng)
    kill_at = rng.uniform(0, seconds)
    root = run.parents[1]
    res = run_once(cmd.argv(run), root, kill_at, sig, run / "chaos.log")
    if res.orphans:
        row.leftovers.append(f"trial {row.trials}: {len(res.orphans)} process(es) alive "
                             f"after {res.killed_with}")
    assert cmd.reopen is not None
    again = run_once(cmd.reopen(run), root, None, sig, run / "chaos.log")
    row.resumes += 1
    if again.rc != 0:
        row.errors.append(f"trial {row.trials}: reopening failed (exit {again.rc}): "
                          f"{again.stderr_tail}")
    if not res.killed_with:
        return 0
    name = res.killed_with.split()[0]
    row.kills[name] = row.kills.get(name, 0) + 1
    say(f"  trial {row.trials}: {name} at {kill_at:.1f} s (exit {res.rc}), reopened")
    return 1


def table(rows: list[Row], kills: int) -> str:
    """The markdown table docs/results.md shows (N: the kills each command reached)."""
    lines = [f"Kills requested per command: {kills} (SIGKILL; every 4th, or the last of fewer, "
             "SIGINT or SIGTERM).", "",
             "| command | reference s (kill window) | N | trials | kills (signal) | resumes | lost "
             "| duplicated | different | left behind | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ks = ", ".join(f"{v} {k}" for k, v in sorted(r.kills.items())) or "0"
        window = f" ({r.window_s:.0f})" if r.window_s and r.window_s < r.reference_s else ""
        lines.append(f"| {r.command} | {r.reference_s:.0f}{window} | {r.n_kills} | {r.trials} | {ks} "
                     f"| {r.resumes} | {r.lost} | {r.duplicated} | {r.different} "
                     f"| {len(r.leftovers)} | {len(r.errors)} |")
    return "\n".join(lines)


def _inputs_ready(cmd: Command, root: Path, refs: dict[str, Path]) -> bool:
    """Run the reference runs cmd starts from (the whole chain: evaluate <- train <- sample)."""
    if not cmd.needs or cmd.needs in refs:
        return True
    dep = COMMANDS[cmd.needs]
    if not _inputs_ready(dep, root, refs):
        return False
    ref = root / dep.name / "reference"
    if not (ref / ".chaos-reference-ok").is_file():  # a resumed campaign made it already
        _prepare(dep, ref, refs)
        res = run_once(dep.argv(ref), root, None, signal.SIGKILL, ref / "chaos.log")
        if res.rc != 0:
            print(f"{cmd.name}: its input ({dep.name}) failed: {res.stderr_tail}")
            return False
        (ref / ".chaos-reference-ok").write_text(f"{res.seconds}\n")
    refs[dep.name] = ref
    return True


class _Stop(Exception):
    """SIGTERM to the harness (e.g. a job limit): stop the current start, keep the state."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    """Run the chosen commands' chaos trials and print the table (exit 1 on any finding;
    exit 3 when --budget ran out first: run the same command again to continue)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commands", default=",".join(COMMANDS),
                    help=f"comma-separated, of: {', '.join(COMMANDS)}")
    ap.add_argument("--kills", type=int, default=2, help="kills per command (nightly: 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help=f"model spec every command runs ({MODEL})")
    ap.add_argument("--root", default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    ap.add_argument("--out", default=None, help="also write the table (and details) here")
    ap.add_argument("--budget", type=float, default=None,
                    help="minutes: start nothing that may not end in time; state is kept in "
                    "ROOT/chaos-state.json, and the same command continues the campaign")
    args = ap.parse_args(argv)
    set_model(args.model)
    names = [c for c in args.commands.split(",") if c]
    unknown = [c for c in names if c not in COMMANDS]
    if unknown:
        ap.error(f"unknown command(s): {', '.join(unknown)}")
    if args.budget is not None and args.root is None:
        ap.error("--budget needs --root (the campaign continues there)")
    t0 = time.monotonic()
    root = Path(args.root or tempfile.mkdtemp(prefix="sd-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    state_path = root / "chaos-state.json"
    key = {"commands": names, "kills": args.kills, "seed": args.seed, "model": MODEL}
    state: dict[str, Progress] = {}
    if args.budget is not None and state_path.is_file():
        saved = json.loads(state_path.read_text())
        if saved["key"] != key:
            ap.error(f"{state_path} belongs to another campaign ({saved['key']}); "
                     "use another --root")
        state = {n: Progress.from_json(d) for n, d in saved["progress"].items()}
        for p in state.values():
            if p.in_flight:  # the last process stopped during this start; the next resumes it
                p.row.harness_stops += 1
                p.in_flight = False
        print(f"continuing the campaign in {root}: "
              + ", ".join(f"{n} {p.row.n_kills} kills" for n, p in state.items()))

    def save() -> None:
        if args.budget is not None:
            tmp = state_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps({"key": key, "progress": {
                n: p.to_json() for n, p in state.items()}}, indent=1))
            os.replace(tmp, state_path)

    old_term = signal.signal(signal.SIGTERM, _stop)
    refs: dict[str, Path] = {}
    stopped = False
    try:
        for name in names:
            cmd = COMMANDS[name]
            st = state.setdefault(name, Progress(Row(name)))
            if st.done:
                refs[name] = root / name / "reference"
                continue
            if not _inputs_ready(cmd, root, refs):
                st.row.errors.append("its input command failed")
                st.done = True
                continue
            while not st.done:
                # the next start may take up to the reference time and a signal's grace
                need = (st.row.reference_s or 120.0) * 1.5 + 60.0
                if args.budget is not None and time.monotonic() - t0 + need > args.budget * 60:
                    stopped = True
                    break
                st.in_flight = True
                save()
                step(cmd, st, root, refs, args.kills, args.seed)
                st.in_flight = False
                save()
            if stopped:
                break
            print(table([st.row], args.kills).splitlines()[-1], flush=True)
            for r in st.row.errors + st.row.leftovers:
                print(f"  {name}: {r}")
    except _Stop:
        stopped = True
        print("chaos: stopped by SIGTERM; the state is saved, run the same command again")
    finally:
        signal.signal(signal.SIGTERM, old_term)
        save()
    rows = [state[n].row for n in names if n in state]
    text = table(rows, args.kills)
    print(text)
    if args.out:
        details = [f"- {r.command}: {x}" for r in rows for x in r.errors + r.leftovers]
        details += [f"- {r.command}: {r.harness_stops} start(s) cut short by the harness's "
                    "own stop (not counted as kills)" for r in rows if r.harness_stops]
        Path(args.out).write_text(text + ("\n\n" + "\n".join(details) if details else "")
                                  + "\n")
    if stopped:
        print(f"chaos: budget used; run the same command again to continue ({state_path})")
        return 3
    if not args.keep and args.budget is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

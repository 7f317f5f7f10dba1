"""The assistant's chat logic, independent of any terminal: script mode and the TUI share it.

A Session owns the model (base + the profile's LoRA adapter), answers requests, runs code
in the sandbox, and turns corrections into adapter updates that it commits to the profile.
Every request is answered on its own (the model sees the system prompt and that request),
so each correction is about one (request, answer) pair.

Input lines (the same in the TUI and in scripts)::

    <text>            a new request (the previous answer counts as accepted, no update)
    /accept           accept the last answer (logged; no update)
    /fb <text>        feedback in words -> hindsight self-distillation update
    /fb               (after a failing /run) use the sandbox result as the feedback
    /demo <text>      a better answer -> SDFT update (the TUI also takes a multi-line paste)
    /run [asserts]    run the last answer's code in the sandbox, optionally with tests
    /undo /reset /history /help /quit
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from selfdistill.assist.profile import LoraSettings, Profile
from selfdistill.assist.update import (
    UpdateConfig,
    UpdateResult,
    demo_examples,
    distill_update,
    hindsight_example,
)
from selfdistill.errors import UserError
from selfdistill.generation.base import Chat

SYSTEM_PROMPT = "You are a helpful coding assistant. Answer with correct, clear Python code."

HELP = """\
<text>          ask for something (a new request)
/accept         accept the last answer (no update)
/fb <text>      correct the last answer in words: one hindsight self-distillation update
/fb             after a failing /run: learn from the sandbox result
/demo <text>    paste a better answer: one SDFT update (/demo alone: multi-line, end with /end)
/run [asserts]  run the last answer's code in the sandbox (optionally with assert tests)
/undo           revert the last update (restores the previous adapter exactly)
/reset          go back to the fresh adapter (= the base model)
/history        list the updates behind the live adapter
/help  /quit"""


class Output(Protocol):
    """What a Session needs from its front end."""

    def answer(self, text: str) -> None:
        """Show the assistant's answer."""

    def info(self, text: str) -> None:
        """Show a status line."""

    def error(self, text: str) -> None:
        """Show a problem with the user's input (the session goes on)."""

    def busy(self, what: str) -> contextlib.AbstractContextManager[Any]:
        """A context shown while something slow runs (generation)."""

    def update_progress(self, total: int) -> contextlib.AbstractContextManager[Any]:
        """A context yielding a callback(step, total, loss) while an update runs."""


class PlainOutput:
    """Plain-text front end (script mode, logs): everything goes to stdout, line by line."""

    def __init__(self, echo: bool = True) -> None:
        """echo: print progress lines too."""
        self.echo = echo

    def answer(self, text: str) -> None:
        """Print the answer between markers."""
        print(f"assistant> {text}\n<<<", flush=True)

    def info(self, text: str) -> None:
        """Print a status line."""
        print(text, flush=True)

    def error(self, text: str) -> None:
        """Print an error line."""
        print(f"error: {text}", flush=True)

    @contextlib.contextmanager
    def busy(self, what: str) -> Iterator[None]:
        """Nothing to animate in plain mode."""
        yield

    @contextlib.contextmanager
    def update_progress(self, total: int) -> Iterator[Any]:
        """Print one line per optimiser step."""
        def cb(step: int, n: int, loss: float) -> None:
            if self.echo:
                print(f"  update step {step}/{n} loss {loss:.4f}", flush=True)

        yield cb


@dataclass
class SessionConfig:
    """Generation and update settings of a session."""

    max_new_tokens: int = 256
    temperature: float = 0.0  # greedy answers by default
    system_prompt: str | None = SYSTEM_PROMPT
    run_timeout_s: float = 10.0
    update: UpdateConfig = field(default_factory=UpdateConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    seed: int = 0


@dataclass
class Turn:
    """The current request and the assistant's answer to it."""

    request: str
    chat: Chat
    answer: str
    env_feedback: str | None = None
    corrected: bool = False


def request_chat(request: str, system_prompt: str | None = SYSTEM_PROMPT) -> Chat:
    """The chat the assistant answers: the system prompt and one user request."""
    chat: Chat = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*chat, {"role": "user", "content": request}]


# ------------------------------------------------------------------------------ model


def adapter_state(model: Any) -> dict[str, Any]:
    """The adapter's tensors (peft's saved-state naming), cloned."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_weights(model: Any, adapter_dir: Path) -> None:
    """Overwrite the live adapter with the tensors saved in adapter_dir (bit-exact)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    sd = load_file(str(adapter_dir / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, sd)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise RuntimeError(f"adapter {adapter_dir} does not fit the model: {unexpected[:3]}")


def open_profile_model(profile: Profile, model_spec: str | None, cfg: SessionConfig
                       ) -> tuple[Any, Any, str]:
    """Load base model + the profile's live adapter (creating the profile if new)."""
    import torch

    from selfdistill.core.lora import add_lora, load_lora
    from selfdistill.models import DEFAULT_MODEL, load_model

    if profile.exists():
        meta = profile.meta()
        spec = meta["model"]
        if model_spec is not None and _norm_spec(model_spec) != spec:
            raise UserError(f"Profile '{profile.name}' was created with model '{spec}', not "
                            f"'{model_spec}'; drop --model or use another --profile.")
        profile.recover()
        base, tok = load_model(spec)
        model = load_lora(base, str(profile.current_dir()))
    else:
        spec = _norm_spec(model_spec or DEFAULT_MODEL)
        base, tok = load_model(spec)
        torch.manual_seed(cfg.seed)
        lora = cfg.lora
        model = add_lora(base, lora.r, lora.alpha, lora.targets, base_spec=spec)
        profile.create(spec, lora, lambda d: model.save_pretrained(str(d)))
    model.eval()
    return model, tok, spec


def _norm_spec(spec: str) -> str:
    p = Path(spec).expanduser()
    return str(p.resolve()) if p.exists() else spec


# ------------------------------------------------------------------------------ session


class Session:
    """One user's chat with the assistant, learning into one profile."""

    def __init__(self, profile: str | Profile, model_spec: str | None = None,
                 cfg: SessionConfig | None = None, out: Output | None = None,
                 root: Path | None = None) -> None:
        """Open (or create) the profile, take its lock and load model + live adapter."""
        self.cfg = cfg or SessionConfig()
        self.out: Output = out or PlainOutput()
        self.profile = profile if isinstance(profile, Profile) else Profile(profile, root)
        self.profile.lock()
        try:
            self.model, self.tokenizer, self.model_spec = open_profile_model(
                self.profile, model_spec, self.cfg)
        except BaseException:
            self.profile.unlock()
            raise
        self.turn: Turn | None = None
        self._generator: Any = None
        self.last_update: UpdateResult | None = None

    # ---- generation ----------------------------------------------------------------
    def _gen(self) -> Any:
        if self._generator is None:
            from selfdistill.core.lora import base_model
            from selfdistill.generation import make_generator

            # The base model object carries the injected LoRA layers: it generates with them.
            self._generator = make_generator("hf", model=base_model(self.model),
                                             tokenizer=self.tokenizer, progress=False,
                                             batch_size=8)
        return self._generator

    def sample(self, chat: Chat, n: int = 1, temperature: float | None = None,
               seed: int | None = None) -> list[str]:
        """n answers from the current model (greedy unless temperature > 0)."""
        from selfdistill.core.config import sampling_params

        t = self.cfg.temperature if temperature is None else temperature
        params = sampling_params(t, n=n, max_new_tokens=self.cfg.max_new_tokens,
                                 seed=self.cfg.seed if seed is None else seed,
                                 return_logprobs=False)
        return [c.text.strip() for c in self._gen().generate([chat], params)[0]]

    def ask(self, request: str, answer: str | None = None) -> str:
        """Answer a new request (answer= forces the reply, for scripted replays)."""
        request = request.strip()
        if not request:
            raise UserError("Empty request.")
        chat = request_chat(request, self.cfg.system_prompt)
        if answer is None:
            with self.out.busy("thinking"):
                answer = self.sample(chat)[0]
        self.turn = Turn(request=request, chat=chat, answer=answer)
        self.out.answer(answer)
        return answer

    # ---- corrections ---------------------------------------------------------------
    def _need_turn(self) -> Turn:
        if self.turn is None:
            raise UserError("There is no answer yet: ask something first.")
        return self.turn

    def accept(self) -> None:
        """Accept the last answer: logged for the record, no update."""
        turn = self._need_turn()
        self.profile.log({"event": "accept", "version": self.profile.current,
                          "request": turn.request, "answer": turn.answer})
        self.out.info("accepted")

    def feedback(self, text: str | None = None) -> UpdateResult:
        """Hindsight self-distillation from the user's follow-up (or the last sandbox result)."""
        turn = self._need_turn()
        followup = (text or "").strip()
        source = "user"
        if not followup:
            if not turn.env_feedback:
                raise UserError("Give the feedback text: /fb <what should change>.")
            followup, source = turn.env_feedback, "sandbox"
        ex = hindsight_example(self.tokenizer, turn.chat, turn.answer, followup)
        return self._commit("feedback", [ex], {"request": turn.request, "answer": turn.answer,
                                               "followup": followup, "source": source})

    def demonstrate(self, text: str) -> UpdateResult:
        """SDFT: distil the demonstration-conditioned teacher into fresh student samples."""
        turn = self._need_turn()
        demo = text.strip()
        if not demo:
            raise UserError("The demonstration is empty.")
        uc = self.cfg.update
        samples: list[str] = []
        if uc.demo_samples:
            with self.out.busy("sampling on-policy answers"):
                samples = self.sample(turn.chat, n=uc.demo_samples,
                                      temperature=uc.demo_temperature,
                                      seed=uc.seed + self.profile.next_version())
        answers = [turn.answer, *[s for s in samples if s]]
        exs = demo_examples(self.tokenizer, turn.chat, demo, answers)
        return self._commit("demonstration", exs, {
            "request": turn.request, "answer": turn.answer, "demonstration": demo,
            "student_samples": samples})

    def _commit(self, kind: str, examples: list[Any], record: dict[str, Any]) -> UpdateResult:
        prev = self.profile.current
        version = self.profile.next_version()
        with self.out.update_progress(self.cfg.update.steps) as cb:
            try:
                res = distill_update(self.model, self.tokenizer, examples, kind,
                                     self.cfg.update, on_step=cb)
                self.profile.commit_version(version, lambda d: self.model.save_pretrained(str(d)))
            except BaseException:
                # Roll the live weights back too: memory must match the pointer on disk.
                load_adapter_weights(self.model, self.profile.current_dir())
                raise
        self.profile.log({"event": "update", "version": version, "parent": prev, "kind": kind,
                          **record, "result": res.to_dict()})
        if self.turn is not None:
            self.turn.corrected = True
        self.last_update = res
        self.out.info(f"v{version}: {res.summary()}")
        return res

    # ---- sandbox -------------------------------------------------------------------
    def run(self, tests: str | None = None, stdin: str = "") -> dict[str, Any]:
        """Run the last answer's code in the sandbox; with tests, grade it against them."""
        from selfdistill.execution import SandboxConfig, format_feedback, get_pool, grade
        from selfdistill.prompts import extract_code

        turn = self._need_turn()
        code = extract_code(turn.answer)
        if not code:
            self.out.error("no code found in the last answer")
            return {"ok": False, "text": "no code"}
        sb = SandboxConfig(timeout_s=self.cfg.run_timeout_s)
        tests = (tests or "").strip()
        if tests:
            from selfdistill.problems.schema import Problem, TestCase

            problem = Problem(id="assist-run", statement=turn.request,
                              tests=[TestCase(kind="assert", input=tests)])
            with self.out.busy("running tests"):
                verdict = grade(problem, code, config=sb)
            ok, text = verdict.passed, format_feedback(verdict)
        else:
            job = {"mode": "stdio", "code": code, "stdin": stdin, "limits": sb.job_limits()}
            with self.out.busy("running"):
                raw, _ = get_pool(sb).run(job)
            ok, text = _describe_run(raw, sb.timeout_s)
        turn.env_feedback = None if ok else f"Running the code in a sandbox gave:\n{text}"
        self.out.info(("[ok] " if ok else "[failed] ") + text)
        return {"ok": ok, "text": text}

    # ---- profile commands ----------------------------------------------------------
    def undo(self) -> int | None:
        """Revert the last update: the pointer moves back and the weights are reloaded."""
        v = self.profile.undo()
        if v is None:
            self.out.info("nothing to undo")
            return None
        load_adapter_weights(self.model, self.profile.version_dir(v))
        self.out.info(f"undone: live adapter is v{v}")
        return v

    def reset(self) -> None:
        """Return to the fresh adapter (v0)."""
        self.profile.reset()
        load_adapter_weights(self.model, self.profile.version_dir(0))
        self.out.info("reset: live adapter is v0 (the base model)")

    def history(self) -> list[dict[str, Any]]:
        """Show and return the updates behind the live adapter."""
        hist = self.profile.history()
        if not hist:
            self.out.info(f"v{self.profile.current}: no updates yet")
        for r in hist:
            what = r.get("followup") or (r.get("demonstration") or "")[:60]
            res = r.get("result", {})
            self.out.info(f"v{r['version']} {r['kind']}: {r['request'][:50]!r} <- {what[:60]!r} "
                          f"(loss {res.get('loss_first', 0):.3f} -> {res.get('loss_last', 0):.3f})")
        return hist

    # ---- input lines ---------------------------------------------------------------
    def handle(self, line: str) -> bool:
        """Process one input line; False means quit. UserErrors are shown, not raised."""
        line = line.strip()
        if not line:
            return True
        try:
            return self._dispatch(line)
        except UserError as e:
            self.out.error(str(e))
            return True

    def _dispatch(self, line: str) -> bool:
        if not line.startswith("/"):
            self.ask(line)
            return True
        cmd, _, arg = line.partition(" ")
        cmd, arg = cmd.lower(), arg.strip()
        if cmd in ("/quit", "/exit", "/q"):
            return False
        if cmd in ("/help", "/?"):
            self.out.info(HELP)
        elif cmd in ("/accept", "/ok"):
            self.accept()
        elif cmd in ("/fb", "/feedback"):
            self.feedback(arg or None)
        elif cmd == "/demo":
            self.demonstrate(arg)
        elif cmd == "/run":
            self.run(arg or None)
        elif cmd == "/undo":
            self.undo()
        elif cmd == "/reset":
            self.reset()
        elif cmd == "/history":
            self.history()
        else:
            raise UserError(f"unknown command {cmd}; /help lists them")
        return True

    def close(self) -> None:
        """Release the profile lock."""
        self.profile.unlock()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe_run(raw: dict[str, Any], timeout_s: float) -> tuple[bool, str]:
    """(ok, text) for a plain program run by the sandbox."""
    if "infra_error" in raw:
        return False, f"sandbox error: {raw['infra_error']}"
    out = (raw.get("stdout") or "").rstrip()
    err = (raw.get("stderr") or "").rstrip()
    if raw.get("timed_out"):
        return False, f"time limit exceeded ({timeout_s:g} s)" + (f"\nstdout:\n{out}" if out else "")
    code = raw.get("exit_code")
    ok = code == 0
    parts = [f"exit code {code}" if code is not None else f"killed by signal {raw.get('signal')}"]
    if out:
        parts.append(f"stdout:\n{out[-2000:]}")
    if err:
        parts.append(f"stderr:\n{err[-1500:]}")
    return ok, "\n".join(parts)



# ------------------------------------------------------------------------------ scripts


def load_script(path: str | Path) -> tuple[dict[str, Any], list[Any]]:
    """Read a script YAML: a list of turns, or {turns: [...], model:, profile:, ...}."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UserError(f"Script not found: {path}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if isinstance(data, list):
        return {}, data
    if isinstance(data, dict) and isinstance(data.get("turns"), list):
        return {k: v for k, v in data.items() if k != "turns"}, data["turns"]
    raise UserError(f"{path}: expected a list of turns or a mapping with a 'turns' list.")


_TURN_KEYS = ("user", "feedback", "fb", "demo", "run", "accept", "undo", "reset", "history",
              "quit")


def play_turn(session: Session, turn: Any, where: str = "turn") -> bool:
    """Play one script turn (a typed line, or a one-command mapping); False means quit."""
    if isinstance(turn, str):
        print(f"you> {turn}", flush=True)
        return session.handle(turn)
    if not isinstance(turn, dict):
        raise UserError(f"{where}: a turn is a string or a mapping, got {type(turn).__name__}")
    keys = [k for k in turn if k in _TURN_KEYS]
    extra = set(turn) - set(_TURN_KEYS) - {"answer", "stdin"}
    if len(keys) != 1 or extra:
        raise UserError(f"{where}: a turn needs exactly one of {', '.join(_TURN_KEYS)} "
                        f"(got {', '.join(map(str, turn))})")
    key, val = keys[0], turn[keys[0]]
    if key == "user" and "answer" in turn:
        print(f"you> {val}", flush=True)
        try:
            session.ask(str(val), answer=str(turn["answer"]))
        except UserError as e:
            session.out.error(str(e))
        return True
    if key == "run":
        print(f"you> /run {val or ''}".rstrip(), flush=True)
        try:
            session.run(val or None, stdin=str(turn.get("stdin", "")))
        except UserError as e:
            session.out.error(str(e))
        return True
    cmd = {"user": "", "feedback": "/fb", "fb": "/fb", "demo": "/demo"}.get(key, f"/{key}")
    arg = "" if val in (None, True) or key in ("accept", "undo", "reset", "history", "quit") \
        else str(val)
    line = f"{cmd} {arg}".strip() if cmd else arg
    print(f"you> {line}", flush=True)
    return session.handle(line)


def play_script(session: Session, turns: list[Any]) -> None:
    """Replay a whole session from script turns."""
    for i, turn in enumerate(turns, 1):
        if not play_turn(session, turn, where=f"turn {i}"):
            break


# ------------------------------------------------------------------------------ offline


def parse_logged_turn(rec: dict[str, Any], system_prompt: str | None = SYSTEM_PROMPT
                      ) -> tuple[Chat, str, str]:
    """(prompt chat, answer, follow-up) from a logged record.

    Accepted shapes: {"prompt"|"request": str, "answer": str, "followup"|"feedback": str}, or
    {"messages": [..., user, assistant, user]} (the last user message is the follow-up).
    """
    if isinstance(rec.get("messages"), list):
        msgs = rec["messages"]
        if len(msgs) < 3 or [m.get("role") for m in msgs[-3:]] != ["user", "assistant", "user"]:
            raise ValueError("messages must end with user, assistant, user")
        return ([{"role": m["role"], "content": m["content"]} for m in msgs[:-2]],
                msgs[-2]["content"], msgs[-1]["content"])
    prompt = rec.get("prompt", rec.get("request"))
    followup = rec.get("followup", rec.get("feedback"))
    if not isinstance(prompt, str) or not isinstance(rec.get("answer"), str) \
            or not isinstance(followup, str) or not followup.strip():
        raise ValueError("needs prompt, answer and followup strings")
    return request_chat(prompt, system_prompt), rec["answer"], followup


def learn_from_log(session: Session, log_path: str | Path, batch_size: int = 4
                   ) -> list[UpdateResult]:
    """Hindsight self-distillation over logged (prompt, answer, follow-up) turns, in batches."""
    from selfdistill.core.records import read_jsonl

    p = Path(log_path)
    if not p.is_file():
        raise UserError(f"Log not found: {log_path}")
    if batch_size < 1:
        raise UserError("batch size must be >= 1")
    try:
        records = read_jsonl(p)
    except ValueError as e:
        raise UserError(f"{log_path} is not JSONL: {e}") from None
    turns: list[tuple[Chat, str, str]] = []
    skipped = 0
    for rec in records:
        try:
            turns.append(parse_logged_turn(rec, session.cfg.system_prompt))
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped += 1
    if not turns:
        raise UserError(f"{log_path}: no usable (prompt, answer, followup) turns "
                        f"({skipped} records skipped).")
    session.out.info(f"{len(turns)} turns from {p.name} ({skipped} skipped), "
                     f"batches of {batch_size}")
    results = []
    for b in range(0, len(turns), batch_size):
        chunk = turns[b:b + batch_size]
        exs = [hindsight_example(session.tokenizer, c, a, f) for c, a, f in chunk]
        users = [[m["content"] for m in c if m["role"] == "user"] for c, _, _ in chunk]
        results.append(session._commit("feedback", exs, {
            "source": str(p), "request": users[0][-1] if users[0] else "",
            "followup": chunk[0][2], "turns": [
                {"request": u[-1] if u else "", "answer": a, "followup": f}
                for u, (_, a, f) in zip(users, chunk, strict=True)]}))
    return results

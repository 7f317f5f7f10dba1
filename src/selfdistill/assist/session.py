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
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from selfdistill.assist.config import SessionConfig
from selfdistill.assist.model import load_adapter_weights, open_profile_model
from selfdistill.assist.output import Output, PlainOutput
from selfdistill.assist.profile import Profile
from selfdistill.assist.update import (
    UpdateResult,
    demo_examples,
    distill_update,
    hindsight_example,
)
from selfdistill.core.lora import base_model
from selfdistill.errors import UserError
from selfdistill.execution import SandboxConfig, format_feedback, get_pool, grade
from selfdistill.generation import make_generator
from selfdistill.generation.base import Chat
from selfdistill.generation.params import sampling_params
from selfdistill.problems.schema import Problem, TestCase
from selfdistill.prompts.task import extract_code
from selfdistill.prompts.templates import ASSISTANT_SYSTEM_PROMPT

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


@dataclass
class Turn:
    """The current request and the assistant's answer to it."""

    request: str
    chat: Chat
    answer: str
    env_feedback: str | None = None
    corrected: bool = False


def request_chat(request: str, system_prompt: str | None = ASSISTANT_SYSTEM_PROMPT) -> Chat:
    """The chat the assistant answers: the system prompt and one user request."""
    chat: Chat = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*chat, {"role": "user", "content": request}]


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
        # One random stream per session: successive random choices (e.g. the agent's tool
        # choice) are fresh draws, and the session as a whole replays from cfg.seed.
        self.rng = random.Random(self.cfg.seed)

    # ---- generation ----------------------------------------------------------------
    def generator(self) -> Any:
        """The session's sampler over the live model (adapter included), built once."""
        if self._generator is None:
            # The base model object carries the injected LoRA layers: it generates with them.
            self._generator = make_generator("hf", model=base_model(self.model),
                                             tokenizer=self.tokenizer, progress=False,
                                             batch_size=8)
        return self._generator

    @contextlib.contextmanager
    def streaming(self, prefix: str = "") -> Iterator[bool]:
        """Inside, a front end with a `stream(text)` method gets the reply as it is written
        (prefix first: e.g. a forced call opening); yields whether it streams."""
        show = getattr(self.out, "stream", None)
        gen = self.generator()
        if show is None or not hasattr(gen, "on_token"):
            yield False
            return
        shown = [""]
        tok = self.tokenizer

        def on_token(index: int, ids: list[int]) -> None:
            if index != 0:
                return
            text = tok.decode(ids, skip_special_tokens=True)
            if text.startswith(shown[0]) and len(text) > len(shown[0]):
                show(text[len(shown[0]):])  # a half-decoded character waits for the next
                shown[0] = text

        if prefix:
            show(prefix)
        gen.on_token = on_token
        try:
            yield True
        finally:
            gen.on_token = None
            end = getattr(self.out, "stream_end", None)
            if end is not None:
                end()

    def sample(self, chat: Chat, n: int = 1, temperature: float | None = None,
               seed: int | None = None, stop: list[str] | None = None) -> list[str]:
        """n answers from the current model (greedy unless temperature > 0)."""
        t = self.cfg.temperature if temperature is None else temperature
        params = sampling_params(t, n=n, max_new_tokens=self.cfg.max_new_tokens,
                                 seed=self.cfg.seed if seed is None else seed, stop=stop,
                                 return_logprobs=False)
        return [c.text.strip() for c in self.generator().generate([chat], params)[0]]

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

    def _write_version(self, record: dict[str, Any], out: Any) -> None:
        """An adapter version's files: the adapter, and what it learned from (UPDATE_FILE),
        committed with it, so a resumed `learn` knows what is in even if the log line is not."""
        from selfdistill.assist.profile import UPDATE_FILE

        self.model.save_pretrained(str(out))
        (Path(out) / UPDATE_FILE).write_text(json.dumps(record, ensure_ascii=False))

    def _commit(self, kind: str, examples: list[Any], record: dict[str, Any]) -> UpdateResult:
        prev = self.profile.current
        version = self.profile.next_version()
        with self.out.update_progress(self.cfg.update.steps) as cb:
            try:
                res = distill_update(self.model, self.tokenizer, examples, kind,
                                     self.cfg.update, on_step=cb,
                                     compute_dtype=self.cfg.lora.compute_dtype)
                entry = {"event": "update", "version": version, "parent": prev, "kind": kind,
                         **record, "result": res.to_dict()}
                self.profile.commit_version(version, partial(self._write_version, entry))
            except BaseException:
                # Roll the live weights back too: memory must match the pointer on disk.
                load_adapter_weights(self.model, self.profile.current_dir())
                raise
        self.profile.log(entry)
        if self.turn is not None:
            self.turn.corrected = True
        self.last_update = res
        self.out.info(f"v{version}: {res.summary()}")
        return res

    # ---- sandbox -------------------------------------------------------------------
    def run(self, tests: str | None = None, stdin: str = "") -> dict[str, Any]:
        """Run the last answer's code in the sandbox; with tests, grade it against them."""
        turn = self._need_turn()
        code = extract_code(turn.answer)
        if not code:
            self.out.error("no code found in the last answer")
            return {"ok": False, "text": "no code"}
        sb = SandboxConfig(timeout_s=self.cfg.run_timeout_s)
        tests = (tests or "").strip()
        if tests:
            problem = Problem(id="assist-run", statement=turn.request,
                              tests=[TestCase(kind="assert", input=tests)])
            with self.out.busy("running tests"):
                verdict = grade(problem, code, config=sb)
            ok, text = verdict.passed, format_feedback(verdict)
        else:
            job = {"mode": "stdio", "code": code, "stdin": stdin, "limits": sb.job_limits()}
            with self.out.busy("running"):
                raw, _ = get_pool(sb).run(job)
            ok, text = describe_run(raw, sb.timeout_s)
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


def describe_run(raw: dict[str, Any], timeout_s: float) -> tuple[bool, str]:
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




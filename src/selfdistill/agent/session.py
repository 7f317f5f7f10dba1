"""The agent: an assist Session that acts in a workspace, one approved tool call at a time.

It is `assist.session.Session` (same profile, crash-safe adapter versions, update code and
/history) plus a loop: the model proposes one action, the user (or the policy) decides,
the action runs, its result goes back into the chat, until the model answers in words.

Learning, each a new adapter version through Session._commit:
- deny with a reason -> hindsight self-distillation on the denied action (teacher = the
  same model with the reason in context), then the agent retries the step;
- a failing command or tool error -> the same update with the error as the feedback;
- an edited action -> SDFT: the edited call is the demonstration, the original the student.

/undo pops the last step that changed something: its adapter versions (bit-exact reload)
and its file changes (previous bytes restored, created files deleted).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from selfdistill.agent.calls import (
    DONE_LINE,
    MALFORMED_PREFIX,
    Action,
    Answer,
    Malformed,
    ToolCall,
    denial_feedback,
    format_call,
    malformed_feedback,
    parse_action,
    tool_schemas,
    tools_prompt,
)
from selfdistill.agent.decode import (
    REPEAT_NOTE,
    compact_chat,
    describe,
    forced_call,
    propose,
    repeats_last_call,
    tool_format,
)
from selfdistill.agent.tools import ToolResult, execute, preview_diff
from selfdistill.agent.undo import StepStore
from selfdistill.agent.workspace import Changes, Workspace
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.model import load_adapter_weights
from selfdistill.assist.output import Output
from selfdistill.assist.profile import Profile
from selfdistill.assist.session import Session, request_chat
from selfdistill.assist.update import (
    UpdateResult,
    demo_examples,
    hindsight_chat,
    hindsight_example,
)
from selfdistill.errors import UserError
from selfdistill.generation.base import Chat
from selfdistill.generation.chat import chat_template_kwargs, set_chat_template_kwargs
from selfdistill.prompts.templates import AGENT_SYSTEM_PROMPT

HELP = """\
<task>          give the agent a task in the workspace
  at each proposed action: y (approve), a (always approve this kind), n <reason> (deny:
  the agent learns from the reason and retries), e <edited call> (run your version; the
  agent learns from it), q (stop the task)
/undo           revert the last step: its file changes and its adapter update(s)
/history        the updates behind the live adapter
/reset          back to the fresh adapter (files untouched)
/help  /quit"""


def agent_system_prompt(native: bool = False) -> str:
    """The agent's system prompt: its role and the tool list with the call format.

    native: the chat template renders the tools itself (`tools=`), so only the role and
    how to finish are written here.
    """
    if native:
        return f"{AGENT_SYSTEM_PROMPT} Call one tool per reply. {DONE_LINE}"
    return f"{AGENT_SYSTEM_PROMPT}\n\n{tools_prompt()}"


@dataclass
class AgentConfig:
    """How the agent acts: step budget, approval policy, learning switches."""

    max_actions: int = 8
    auto_approve_reads: bool = True
    learn_from_errors: bool = True
    shell_timeout_s: float = 30.0
    # constrained: choose call/answer and the tool by scores, prefill it (agent/decode.py);
    # free: sample and parse; auto: constrained unless the chat template has a tool format.
    decode: Literal["auto", "constrained", "free"] = "auto"
    # Appended to the system prompt (e.g. a standing rule: the in-context baseline of the
    # learning study, agent/study.py).
    system_note: str = ""
    # The prompt budget in tokens (None: the model's context length); before each proposal
    # the chat is compacted to fit it minus max_new_tokens (older tool results cut first).
    context_tokens: int | None = None
    # Free decoding: the first reply of a task (and a retry after a denial) must be a tool
    # call -- the assistant turn starts with the template's call opening and the model
    # writes the tool name and arguments (OpenAI's tool_choice "required", for one step).
    first_call: bool = False


@dataclass
class Decision:
    """The user's verdict on one proposed action."""

    verdict: Literal["approve", "always", "deny", "edit", "stop"]
    reason: str = ""
    edited: ToolCall | None = None


class Driver(Protocol):
    """Where model outputs may be supplied from and where approvals come from."""

    def model_output(self) -> str | None:
        """A scripted model reply for the next action, or None to sample the model."""

    def decide(self, call: ToolCall) -> Decision:
        """The verdict on a proposed call."""


def parse_decision(line: str) -> Decision | str:
    """y / a / n <reason> / e <call> / q as typed; a string says what is wrong."""
    word, _, rest = line.strip().partition(" ")
    word, rest = word.lower(), rest.strip()
    if word in ("y", "yes", "approve", "ok"):
        return Decision("approve")
    if word in ("a", "always"):
        return Decision("always")
    if word in ("q", "quit", "stop"):
        return Decision("stop")
    if word in ("n", "no", "deny"):
        return Decision("deny", rest) if rest else "deny needs a reason: n <why not>"
    if word in ("e", "edit"):
        act = parse_action(rest)
        if isinstance(act, ToolCall):
            return Decision("edit", edited=act)
        why = act.error if isinstance(act, Malformed) else "no tool call in it"
        return f"the edited action could not be read ({why})"
    return "answer y, a, n <reason>, e <call> or q"


@dataclass
class Step:
    """One undoable step: the adapter versions it added and the files it changed."""

    action: str
    updates: int = 0
    changes: Changes = field(default_factory=Changes)


class AgentSession(Session):
    """A coding agent in one workspace, learning into one assist profile."""

    def __init__(self, profile: str | Profile, workspace: str | Path, driver: Driver,
                 model_spec: str | None = None, cfg: SessionConfig | None = None,
                 agent: AgentConfig | None = None, out: Output | None = None,
                 root: Path | None = None) -> None:
        """Open the profile and model (as assist), the workspace, and the approval driver."""
        self.ws = Workspace(workspace)
        cfg = replace(cfg or SessionConfig(), system_prompt=agent_system_prompt())
        super().__init__(profile, model_spec, cfg, out, root)
        self.driver = driver
        self.acfg = agent or AgentConfig()
        self.always: set[str] = set()
        # The undo stack lives on disk too: /undo after a restart reverts files as well.
        self.store = StepStore(self.profile.dir, self.ws.root)
        self.steps: list[Step] = [Step(a, u, c) for a, u, c in self.store.load()]
        template = str(getattr(self.tokenizer, "chat_template", "") or "")
        # The chat template's own tool-result role where it has one (else a user turn).
        self.tool_role = "tool" if "'tool'" in template or '"tool"' in template else "user"
        if self.acfg.decode not in ("auto", "constrained", "free"):
            raise UserError(f"decode must be auto, constrained or free, not {self.acfg.decode!r}")
        style = tool_format(self.tokenizer)
        self.constrained = self.acfg.decode == "constrained" or (
            self.acfg.decode == "auto" and style is None)
        # Native tool calling: the template gets the tool schemas as `tools=` (they ride on
        # the tokenizer, so sampling and every update's scoring render the same prompt) and
        # the model writes calls in the template's own format, which parse_action reads.
        self.native = style is not None and not self.constrained
        self.call_style = style if self.native and style else "hermes"
        if self.native:
            set_chat_template_kwargs(self.tokenizer, {**chat_template_kwargs(self.tokenizer),
                                                      "tools": tool_schemas()})
            self.cfg = replace(self.cfg, system_prompt=agent_system_prompt(native=True))
        if self.acfg.system_note.strip():
            self.cfg = replace(self.cfg, system_prompt=f"{self.cfg.system_prompt}\n\n"
                                                       f"{self.acfg.system_note.strip()}")

    # ---- the loop ----------------------------------------------------------------
    def run_task(self, task: str) -> str | None:
        """Act on a task until the model answers (returned) or the action budget ends."""
        task = task.strip()
        if not task:
            raise UserError("Empty task.")
        chat = request_chat(task, self.cfg.system_prompt)
        self.profile.log({"event": "agent_task", "task": task, "workspace": str(self.ws.root),
                          "version": self.profile.current})
        for _ in range(self.acfg.max_actions):
            chat = self.fit_context(chat)
            text = self.driver.model_output()
            if text is None:
                text, act = self.next_action(task, chat)
            else:
                act = parse_action(text)
            if isinstance(act, Answer):
                self.out.answer(act.text)
                self.profile.log({"event": "agent_answer", "task": task, "answer": act.text})
                return act.text
            if isinstance(act, Malformed):
                note = malformed_feedback(act)
                self.out.info(f"[unreadable tool call] {act.error}")
                self.profile.log({"event": "agent_malformed", "task": task, "output": text,
                                  "error": act.error})
                chat = self._extend(chat, text, note)
                continue
            nxt = self._act(task, chat, text, act)
            if nxt is None:
                return None
            chat = nxt
        self.out.info(f"stopped: {self.acfg.max_actions} actions without a final answer")
        return None

    def next_action(self, task: str, chat: Chat) -> tuple[str, Action]:
        """The model's next action: constrained (scored choice + prefill) or sampled freely."""
        if not self.constrained:
            if self._must_call(chat):
                return forced_call(self, chat, task)
            # One call per reply: stop after the first (Qwen 0.5B wrote three bare calls in
            # every reply, 256 tokens, and copied them from its previous turn).
            stop = ["</tool_call>", '\n{"name"'] if self.native else None
            if hasattr(self.out, "stream"):  # the reply appears as it is written
                with self.streaming():
                    text = self.sample(chat, stop=stop)[0]
            else:
                with self.out.busy("thinking"):
                    text = self.sample(chat, stop=stop)[0]
            if stop and "<tool_call>" in text and "</tool_call>" not in text:
                text += "\n</tool_call>"  # the stop string is not in the returned text
            return text, parse_action(text)
        with self.out.busy("thinking"):
            p = propose(self, chat)
        self.out.info(describe(p))
        self.profile.log({"event": "agent_choice", "task": task, "choice": p.choice,
                          "scores": p.scores})
        return p.text, p.action

    def _must_call(self, chat: Chat) -> bool:
        """--first-call: no reply yet in this chat (a task's start, a retry after a denial),
        or the last reply could not be read (a small model repeats an unreadable call)."""
        if not self.acfg.first_call:
            return False
        if not any(m["role"] == "assistant" for m in chat):
            return True
        return str(chat[-1].get("content", "")).startswith(MALFORMED_PREFIX)

    def context_limit(self) -> int:
        """Prompt tokens a proposal may use: the context budget minus the reply's room."""
        ctx = self.acfg.context_tokens
        if ctx is None:
            cfg = getattr(self.model, "config", None)
            ctx = int(getattr(cfg, "max_position_embeddings", 0) or 8192)
            tok_max = getattr(self.tokenizer, "model_max_length", None)
            if isinstance(tok_max, int) and 0 < tok_max < ctx:
                ctx = tok_max
        return max(64, ctx - self.cfg.max_new_tokens - 8)

    def fit_context(self, chat: Chat) -> Chat:
        """The chat compacted to fit context_limit(), instead of failing at the template's
        limit: older tool results become a marker first, then the oldest (action, result)
        pairs are dropped (noted in the task message), then the last result is shortened."""
        limit = self.context_limit()
        out, before, after, dropped = compact_chat(self.tokenizer, chat, limit)
        if out is chat:
            return chat
        self.out.info(f"[context] compacted the chat from {before} to {after} tokens "
                      f"(limit {limit})")
        self.profile.log({"event": "agent_compact", "tokens_before": before,
                          "tokens_after": after, "limit": limit, "dropped": dropped})
        return out

    def _extend(self, chat: Chat, action_text: str, result: str) -> Chat:
        return [*chat, {"role": "assistant", "content": action_text},
                {"role": self.tool_role, "content": result}]

    def _act(self, task: str, chat: Chat, text: str, call: ToolCall) -> Chat | None:
        """Approve, learn from and run one call; the chat to continue in (None: stopped)."""
        self.out.info(f"proposed: {format_call(call)}")
        self.profile.log({"event": "agent_action", "task": task, "tool": call.name,
                          "args": call.args, "output": text, "version": self.profile.current})
        d = self._decide(call)
        self.profile.log({"event": "agent_decision", "task": task, "tool": call.name,
                          "verdict": d.verdict, "reason": d.reason,
                          "edited": None if d.edited is None else d.edited.args})
        step = Step(action=format_call(call))
        if d.verdict == "stop":
            self.out.info("stopped by the user")
            return None
        if d.verdict == "deny":
            feedback = denial_feedback(call, d.reason)
            self._learn_feedback(step, task, chat, text, feedback, "denial")
            self._push(step)
            # The retry runs where the teacher stood: the chat before the denied call with
            # the denial in its last user turn. Not the denied call and then the denial: a
            # small model copies its previous turn (in that chat SmolLM2-135M rated the
            # denied call +40 nats above the plain chat, Qwen2.5-Coder-0.5B +17).
            return hindsight_chat(chat, feedback)
        if d.verdict == "edit" and d.edited is not None:
            self._learn_demo(step, task, chat, text, d.edited)
            call, text = d.edited, format_call(d.edited, self.call_style)
            step.action = text
        res = self._run(call, step)
        if not res.ok and self.acfg.learn_from_errors:
            self._learn_feedback(step, task, chat, text,
                                 f"That action failed. The result was:\n{res.text}", "environment")
        self._push(step)
        result = f"[{call.name} {'ok' if res.ok else 'failed'}]\n{res.text}"
        if call.read_only and repeats_last_call(call, chat):
            # A small model copies its previous turn: Qwen2.5-Coder-0.5B read the same test
            # file again and again; the result says so instead of only repeating itself.
            result += f"\n{REPEAT_NOTE}"
        return self._extend(chat, text, result)

    def _decide(self, call: ToolCall) -> Decision:
        diff = preview_diff(self.ws, call)
        if diff is not None:  # what a write or edit would change, before it is approved
            self.out.info(f"diff:\n{diff.rstrip()}")
        if call.read_only and self.acfg.auto_approve_reads:
            self.out.info("auto-approved (read-only)")
            return Decision("approve", reason="auto: read-only")
        if call.kind() in self.always:
            self.out.info(f"auto-approved (always approve {call.kind()})")
            return Decision("approve", reason="auto: always")
        d = self.driver.decide(call)
        if d.verdict == "always":
            self.always.add(call.kind())
            return Decision("approve", reason=f"always approve {call.kind()}")
        return d

    def _run(self, call: ToolCall, step: Step) -> ToolResult:
        with self.out.busy(f"running {call.name}"):
            res = execute(self.ws, call, self.acfg.shell_timeout_s)
        step.changes = res.changes
        head = "[ok]" if res.ok else ("[refused]" if res.refused else "[failed]")
        self.out.info(f"{head} {call.name}: {res.text[:1500]}")
        self.profile.log({"event": "agent_result", "tool": call.name, "ok": res.ok,
                          "refused": res.refused, "result": res.text[:4000],
                          "files": sorted(res.changes.before),
                          "uncovered": res.changes.uncovered})
        return res

    # ---- learning ----------------------------------------------------------------
    def _learn_feedback(self, step: Step, task: str, chat: Chat, action: str, followup: str,
                        source: str) -> UpdateResult:
        """Hindsight self-distillation on `action` with `followup` as the teacher's hindsight."""
        # A denial is the user's verdict on exactly this call: the update may only lower it.
        ex = hindsight_example(self.tokenizer, chat, action, followup,
                               rejected=source == "denial")
        res = self._commit("feedback", [ex], {"request": task, "answer": action,
                                              "followup": followup, "source": source})
        step.updates += 1
        return res

    def _learn_demo(self, step: Step, task: str, chat: Chat, action: str,
                    edited: ToolCall) -> UpdateResult:
        """SDFT: the edited call is the demonstration; the model's own call is the student."""
        demo = format_call(edited, self.call_style)
        exs = demo_examples(self.tokenizer, chat, demo, [action])
        res = self._commit("demonstration", exs, {"request": task, "answer": action,
                                                  "demonstration": demo, "source": "edit"})
        step.updates += 1
        return res

    def _push(self, step: Step) -> None:
        if step.updates or step.changes:
            self.steps.append(step)
            self.store.save(self.steps)

    def set_workspace(self, workspace: str | Path) -> None:
        """Work in another directory from now on (its own undo stack, loaded from disk)."""
        self.ws = Workspace(workspace)
        self.store = StepStore(self.profile.dir, self.ws.root)
        self.steps = [Step(a, u, c) for a, u, c in self.store.load()]

    # ---- commands ----------------------------------------------------------------
    def undo(self) -> int | None:
        """Revert the last step: its file changes and its adapter versions (bit-exact)."""
        if not self.steps:
            return super().undo()  # adapter updates from earlier sessions
        step = self.steps.pop()
        restored = self.ws.restore(step.changes)
        self.store.save(self.steps)
        for _ in range(step.updates):
            self.profile.undo()
        load_adapter_weights(self.model, self.profile.current_dir())
        self.profile.log({"event": "agent_undo", "action": step.action, "files": restored,
                          "uncovered": step.changes.uncovered, "version": self.profile.current})
        files = ", ".join(restored) or "no files"
        self.out.info(f"undone: {step.action[:80]} (restored {files}); "
                      f"live adapter is v{self.profile.current}")
        if step.changes.uncovered:
            self.out.error("not restored (too large to snapshot): "
                           + ", ".join(step.changes.uncovered))
        return self.profile.current

    def reset(self) -> None:
        """Back to the fresh adapter; later /undo of earlier steps then reverts files only."""
        super().reset()
        for step in self.steps:
            step.updates = 0
        self.store.save(self.steps)

    def _dispatch(self, line: str) -> bool:
        if not line.startswith("/"):
            self.run_task(line)
            return True
        cmd = line.split()[0].lower()
        if cmd in ("/quit", "/exit", "/q"):
            return False
        if cmd in ("/help", "/?"):
            self.out.info(HELP)
        elif cmd == "/undo":
            self.undo()
        elif cmd == "/history":
            self.history()
        elif cmd == "/reset":
            self.reset()
        else:
            raise UserError(f"unknown command {cmd}; /help lists them")
        return True


def summary(session: AgentSession) -> dict[str, Any]:
    """Live adapter version and the number of undoable steps (for scripts and tests)."""
    return {"version": session.profile.current, "steps": len(session.steps)}

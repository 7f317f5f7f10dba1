"""Offline learning: hindsight self-distillation over a log of (prompt, answer, follow-up) turns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfdistill.assist.session import request_chat
from selfdistill.assist.update import UpdateResult, hindsight_example
from selfdistill.core.records import read_jsonl
from selfdistill.errors import UserError
from selfdistill.generation.base import Chat
from selfdistill.prompts.templates import ASSISTANT_SYSTEM_PROMPT

if TYPE_CHECKING:
    from selfdistill.assist.session import Session


def parse_logged_turn(rec: dict[str, Any], system_prompt: str | None = ASSISTANT_SYSTEM_PROMPT
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


def batch_key(turns: list[tuple[Chat, str, str]]) -> str:
    """A batch of logged turns' identity: a hash of their chats, answers and follow-ups."""
    blob = json.dumps([[c, a, f] for c, a, f in turns], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def learn_from_log(session: Session, log_path: str | Path, batch_size: int = 4
                   ) -> list[UpdateResult]:
    """Hindsight self-distillation over logged (prompt, answer, follow-up) turns, in batches."""
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
    # A rerun after a kill (or of the same log) skips the batches already learned: each
    # committed version records its batch's key, so no turn is learned twice.
    learned = {e.get("batch_key") for e in session.profile.live_updates()}
    results = []
    for b in range(0, len(turns), batch_size):
        chunk = turns[b:b + batch_size]
        key = batch_key(chunk)
        if key in learned:
            session.out.info(f"batch {b // batch_size + 1}: already learned, skipped")
            continue
        exs = [hindsight_example(session.tokenizer, c, a, f) for c, a, f in chunk]
        users = [[m["content"] for m in c if m["role"] == "user"] for c, _, _ in chunk]
        results.append(session._commit("feedback", exs, {
            "source": str(p), "batch_key": key, "request": users[0][-1] if users[0] else "",
            "followup": chunk[0][2], "turns": [
                {"request": u[-1] if u else "", "answer": a, "followup": f}
                for u, (_, a, f) in zip(users, chunk, strict=True)]}))
    return results

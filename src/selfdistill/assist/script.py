"""Script mode: replay a YAML list of turns (typed lines or one-command mappings) in a Session."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfdistill.errors import UserError

if TYPE_CHECKING:
    from selfdistill.assist.session import Session


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

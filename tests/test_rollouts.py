"""rollouts.py: sample -> grade -> group, with a scripted generator and the real sandbox."""

from __future__ import annotations

import pytest

from selfdistill.generation import Completion, SamplingParams
from selfdistill.problems.schema import Problem, TestCase
from selfdistill.rollouts import reward_of, sample_and_grade

PROBLEM = Problem(id="t/add", statement="Write add(a, b).", entry_point="add",
                  tests=[TestCase(kind="assert", input="assert add(1, 2) == 3"),
                         TestCase(kind="assert", input="assert add(2, 2) == 4")])
RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"
WRONG = "```python\ndef add(a, b):\n    return 3\n```"


class Scripted:
    """A generator that answers every chat with the given texts (token ids = characters)."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.chats = None

    def generate(self, chats, params, progress=True):
        self.chats = chats
        return [[Completion(text=t, token_ids=[ord(c) for c in t[:5]],
                            prompt_token_ids=[1, 2], finish_reason="stop")
                 for t in self.texts[: params.n]] for _ in chats]


def test_sample_and_grade_groups_verdicts_rewards_and_feedback():
    gen = Scripted([RIGHT, WRONG])
    batch = sample_and_grade(gen, [PROBLEM], SamplingParams(n=2), reward="fraction")
    (g,) = batch.groups
    assert g.problem_id == "t/add" and g.chat == gen.chats[0]
    assert [r.passed for r in g.rollouts] == [True, False]
    assert g.rewards == [1.0, 0.5]  # fraction: one of two tests passes for WRONG
    assert g.rollouts[0].completion_ids == [ord(c) for c in RIGHT[:5]]
    assert g.rollouts[1].feedback and "assert" in g.rollouts[1].feedback.lower()
    assert batch.seconds_generate >= 0 and batch.seconds_grade > 0


def test_reward_kinds():
    class V:
        passed, tests_passed, tests_total = False, 1, 4

    assert reward_of(V()) == 0.0 and reward_of(V(), "fraction") == 0.25
    with pytest.raises(ValueError):
        reward_of(V(), "nope")

"""The library's prompt texts besides the benchmark prompt (prompts/task.py), in one place.

- TeacherPromptTemplate: the SDPO teacher's re-prompt (the paper's by default), used by
  distill/teacher_context.py;
- HINDSIGHT_TEMPLATE / DEMO_TEMPLATE / NEUTRAL_FOLLOWUP: the assistant's teacher prompts
  for a follow-up in words and for a demonstration (assist/update.py);
- ASSISTANT_SYSTEM_PROMPT / AGENT_SYSTEM_PROMPT: the assistant's and the agent's system prompts;
- MULTITURN_FEEDBACK_TURN: the user turn after each failed attempt in the multi-turn
  discovery baseline (the same words as the SDPO teacher's feedback header).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TeacherPromptTemplate:
    """The teacher's user message; defaults are the SDPO paper's."""

    reprompt: str = "{prompt}{solution}{feedback}Correctly solve the original question."
    solution: str = "\n\nCorrect solution:\n\n{solution}\n\n"
    feedback: str = (
        "\n\nThe following is feedback from your unsuccessful earlier attempt:\n\n{feedback}\n\n"
    )
    truncation_marker: str = "\n[... truncated]"

    def render(self, prompt: str, solution: str | None, feedback: str | None) -> str:
        """The teacher user message; a None part is left out with its header."""
        return self.reprompt.format(
            prompt=prompt,
            solution="" if solution is None else self.solution.format(solution=solution),
            feedback="" if feedback is None else self.feedback.format(feedback=feedback),
        )


# The follow-up goes into the teacher's user turn as an instruction known in advance.
HINDSIGHT_TEMPLATE = TeacherPromptTemplate(
    reprompt="{prompt}{feedback}",
    feedback="\n\n(Important - follow this feedback from the user: {feedback})",
)
# SDFT's teacher prompt: the demonstration as an in-context example, then "answer yourself".
DEMO_TEMPLATE = TeacherPromptTemplate(
    reprompt="{prompt}{solution}Now answer the request with a response of your own, "
             "written the same way as the example.",
    solution="\n\nThis is an example of a good response to this request:\n\n{solution}\n\n",
)


NEUTRAL_FOLLOWUP = "Thanks, that answer is fine."


ASSISTANT_SYSTEM_PROMPT = "You are a helpful coding assistant. Answer with correct, clear Python code."

# The coding agent (agent/session.py); the tool list and call format follow it (agent/calls.py).
AGENT_SYSTEM_PROMPT = ("You are a coding agent working in the user's project directory. "
                       "Act one step at a time with the tools below: look at the files, change "
                       "them, run commands, then say what you did.")

MULTITURN_FEEDBACK_TURN = (
    "The following is feedback from your unsuccessful earlier attempt:\n\n{feedback}\n\n"
    "Correctly solve the original question."
)

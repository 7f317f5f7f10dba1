"""The `evaluate` recipe: one model on a benchmark over a temperature sweep.

config.py (the recipe file's sections) -> run.py (load, sample, grade, score) ->
report.py (report.md, results.json); cli.py holds the typer command.
"""

"""The `ssd` recipe: simple self-distillation (Zhang et al. 2026).

config.py (sample, train, eval, grid sections) -> run.py (sample -> train -> evaluate, and
the grid) -> report.py (base vs SSD, the grid); data.py holds the data policy, analyze.py
the lock/fork analysis (`ssd analyze`), cli.py the typer commands.
"""

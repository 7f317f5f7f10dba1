"""Memory planning before launch: `selfdistill plan` (shape.py, memory.py, recipe.py)."""

"""The `selfdistill` command line: `main.py` builds the app; one module per larger command group."""

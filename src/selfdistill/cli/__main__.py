"""`python -m selfdistill.cli`: the same as the `selfdistill` command."""
from selfdistill.cli import start

start()

"""`python -m selfdistill.cli`: the same as the `selfdistill` command."""
from selfdistill.cli.main import main

main()

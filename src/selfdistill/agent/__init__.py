"""`selfdistill agent`: a coding agent over assist's profiles, adapters and updates."""

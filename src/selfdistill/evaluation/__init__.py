"""Evaluation: resumable sample/grade stages, official harnesses, pass@k and discovery@k, reports."""

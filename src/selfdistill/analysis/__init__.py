"""Looking inside runs: per-token credit (what the SDPO teacher blames) and run reports."""

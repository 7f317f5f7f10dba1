"""Generic machinery every recipe shares: config loading, run records, model loading, LoRA,
checkpoints and the few collectives a multi-process step needs."""

"""Fast, lean fine-tuning on TRL / transformers: chunked cross-entropy and the SFT trainer."""

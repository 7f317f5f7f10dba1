"""Task prompts (the chat a problem becomes, code extraction) and every other prompt template."""

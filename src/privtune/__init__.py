"""privtune: fine-tune LLMs on customer data without leaking it."""

__version__ = "0.1.0"

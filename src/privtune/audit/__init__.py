"""privtune.audit."""

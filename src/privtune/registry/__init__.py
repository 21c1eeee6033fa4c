"""privtune.registry."""

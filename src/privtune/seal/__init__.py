"""privtune.seal."""

"""privtune.train."""

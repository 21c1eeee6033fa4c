"""privtune.serve."""

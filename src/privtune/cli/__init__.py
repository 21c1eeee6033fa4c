"""privtune.cli."""

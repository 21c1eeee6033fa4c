"""privtune.monitor."""

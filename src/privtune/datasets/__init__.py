"""privtune.datasets."""

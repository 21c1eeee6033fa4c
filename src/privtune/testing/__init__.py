"""privtune.testing."""

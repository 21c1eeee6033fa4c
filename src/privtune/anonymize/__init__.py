"""privtune.anonymize."""

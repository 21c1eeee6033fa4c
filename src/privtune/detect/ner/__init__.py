"""Optional statistical taggers for names (off by default: see docs/detect.md, "Accuracy")."""

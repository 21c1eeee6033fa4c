"""The audit's probes. Each takes a backend (and data) and returns a JSON-ready dict of
measurements; none returns record text or PII values (masked values at most)."""

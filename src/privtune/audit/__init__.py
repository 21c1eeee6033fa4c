"""privtune.audit: attack a fine-tuned model before release.

Probes (extraction, PII regurgitation, canary exposure, membership inference,
generalization), an artifact scanner that never unpickles, report.json + report.html, and a
gate from ``AuditConfig.thresholds``. Entry point: :func:`run_audit`.
"""

from privtune.audit.run import AuditInputs, gate, run_audit

__all__ = ["AuditInputs", "gate", "run_audit"]

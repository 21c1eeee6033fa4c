"""privtune.monitor: scheduled integrity checks, request-log re-scan with current rules,
re-audit of active versions, alerts (log, JSONL file, webhook) and automatic revocation."""

from privtune.monitor.alerts import Alert, Alerter, LogSink, WebhookSink
from privtune.monitor.rescan import LogEntry, RescanResult, iter_request_log, rescan
from privtune.monitor.runner import Monitor, MonitorReport, library_audit, parse_interval

__all__ = [
    "Alert",
    "Alerter",
    "LogEntry",
    "LogSink",
    "Monitor",
    "MonitorReport",
    "RescanResult",
    "WebhookSink",
    "iter_request_log",
    "library_audit",
    "parse_interval",
    "rescan",
]

"""Log redaction: sample text and PII never reach a handler, stdout or stderr."""

from __future__ import annotations

import io
import logging

import pytest

from privtune.train.redact import (
    STRIDE,
    WINDOW,
    RedactingStream,
    Redactor,
    SampleIndex,
    install_redaction,
)

SAMPLE = (
    "Ticket CNRYab12cd007QZ is closed; write to zq.ab12cd.7@example.org about the refund "
    "today, and keep the customer informed."
)
CANARY = "CNRYab12cd007QZ"


class FakeScanner:
    """Finds '@example.org' e-mails (the real Scanner is tested in tests/detect)."""

    def scan(self, text):
        import re

        from privtune.detect import Span

        return [Span("EMAIL", m.start(), m.end()) for m in re.finditer(r"\S+@example\.org", text)]


@pytest.fixture
def redactor():
    index = SampleIndex()
    index.add_values({"instruction": "x", "output": SAMPLE, "nested": [SAMPLE.upper()]})
    return Redactor(index, scanner=FakeScanner())


@pytest.mark.parametrize("start", [0, 1, 5, 17, 40])
@pytest.mark.parametrize("length", [WINDOW + STRIDE - 1, 40, len(SAMPLE)])
def test_any_long_enough_quote_is_removed(redactor, start, length):
    quote = SAMPLE[start : start + length]
    if len(quote) < WINDOW + STRIDE - 1:
        pytest.skip("quote shorter than the guaranteed length")
    out = redactor.redact(f"warning: dropped example {quote!r} (too long)")
    assert "[SAMPLE]" in out
    # nothing of the quote survives beyond a fragment shorter than one stride
    for i in range(len(quote) - STRIDE + 1):
        assert quote[i : i + STRIDE] not in out.replace("[SAMPLE]", "\0")


def test_canary_inside_a_quote_is_gone(redactor):
    out = redactor.redact("example: " + repr({"messages": [{"content": SAMPLE}]}))
    assert CANARY not in out and "example.org" not in out


def test_pii_alone_is_tagged_and_other_text_kept(redactor):
    out = redactor.redact("mail a.b@example.org now; loss 0.123 at step 4")
    assert out == "mail [EMAIL] now; loss 0.123 at step 4"


def test_quoting_warnings_lose_the_example(redactor):
    out = redactor.redact("Invalid role tag in [{'from': 'human', 'value': 'hi Bob'}].")
    assert "Bob" not in out and out.startswith("Invalid role tag in an example")


def test_stream_redacts_lines_and_carriage_returns(redactor):
    target = io.StringIO()
    s = RedactingStream(target, redactor)
    s.write("progress 1/2\r")
    s.write("inputs:\n" + SAMPLE[:20])
    s.write(SAMPLE[20:] + "\nend")
    s.flush()
    text = target.getvalue()
    assert CANARY not in text and "progress 1/2\r" in text and text.endswith("end")


def test_every_handler_sees_redacted_records(redactor, tmp_path):
    log_file = tmp_path / "log.txt"
    undo = install_redaction(redactor, streams=False)
    try:
        logger = logging.getLogger("privtune.test.redact")
        handler = logging.FileHandler(log_file)  # added after installation
        logger.addHandler(handler)
        logger.warning("example %s", SAMPLE)
        try:
            raise ValueError(f"bad example {SAMPLE}")
        except ValueError:
            logger.exception("failed")
        handler.close()
        logger.removeHandler(handler)
    finally:
        undo()
    text = log_file.read_text()
    assert CANARY not in text and "example.org" not in text
    assert "ValueError" in text  # the traceback is kept, redacted


def test_index_keeps_no_text_and_is_bounded():
    index = SampleIndex(max_windows=3)
    index.add(SAMPLE)
    assert index.truncated or len(index) <= 3
    assert not any(isinstance(v, str) for v in vars(index).values())

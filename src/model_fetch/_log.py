"""Logging with secrets redacted, and the redaction used in error messages too."""

from __future__ import annotations

import logging
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

__all__ = ["get_logger", "redact", "redact_url"]

# A bearer or basic token, a "token=..." style pair, or userinfo in a URL.
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (
        re.compile(
            r"(?i)([?&](?:[^=&\s]*(?:token|signature|sig|key|secret|password|credential|auth)"
            r"[^=&\s]*|x-amz-[a-z-]+))=[^&\s'\"]*",
        ),
        r"\1=***",
    ),
    (re.compile(r"(?i)\b(hf_[A-Za-z0-9]{8,})"), "hf_***"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"]+@"), r"\1***@"),
)


def redact(text: str) -> str:
    """Remove tokens, passwords and signed query strings from free text."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """Return a URL with any userinfo and its whole query string replaced by ``***``.

    The query string goes entirely, because signed URLs (S3, CDNs) carry their signature there
    under many names.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if parts.query else ""
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, ""))


class _RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = _RedactingFilter()

# The library's NullHandler lives here rather than in model_fetch/__init__.py (which would import
# logging for every `import model_fetch`): every model_fetch logger comes from get_logger, so it
# is in place before anything of model_fetch can log.
logging.getLogger("model_fetch").addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """Return the module's logger, with the redacting filter attached."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger

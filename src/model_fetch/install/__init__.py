"""Turning downloaded files into an installed model: safe extraction and readiness checks."""

from model_fetch.install._step import InstallOutcome, install_step
from model_fetch.install.checks import (
    Readiness,
    Verifier,
    available_verifiers,
    check_file,
    check_model,
    check_safetensors,
    check_torch,
    detect_format,
)
from model_fetch.install.extract import (
    ARCHIVE_KINDS,
    DEFAULT_LIMITS,
    MODEL_SUFFIXES,
    ExtractedFile,
    ExtractLimits,
    UnsafeArchive,
    archive_kind,
    extract,
)

__all__ = [
    "ARCHIVE_KINDS",
    "DEFAULT_LIMITS",
    "MODEL_SUFFIXES",
    "ExtractLimits",
    "ExtractedFile",
    "InstallOutcome",
    "Readiness",
    "UnsafeArchive",
    "Verifier",
    "archive_kind",
    "available_verifiers",
    "check_file",
    "check_model",
    "check_safetensors",
    "check_torch",
    "detect_format",
    "extract",
    "install_step",
]

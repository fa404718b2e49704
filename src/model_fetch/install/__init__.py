"""Turning downloaded files into an installed model: safe extraction and readiness checks.

The names load on first use, so importing ``model_fetch.install.signing`` (a cache hit reads
the signing policy) does not import the checks and the archive readers.
"""

from typing import TYPE_CHECKING

from model_fetch._lazy import lazy_exports

if TYPE_CHECKING:
    from model_fetch.install._step import InstallOutcome, install_step
    from model_fetch.install._torch_probe import MIN_TORCH, version_tuple
    from model_fetch.install.checks import (
        CheckOptions,
        FileVerifier,
        ModelFile,
        Readiness,
        Verdict,
        Verifier,
        available_verifiers,
        check_file,
        check_model,
        check_safetensors,
        check_torch,
        detect_format,
        get_verifier,
        register_verifier,
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "InstallOutcome": "._step",
        "install_step": "._step",
        "MIN_TORCH": "._torch_probe",
        "version_tuple": "._torch_probe",
        **dict.fromkeys(
            (
                "CheckOptions",
                "FileVerifier",
                "ModelFile",
                "Readiness",
                "Verdict",
                "Verifier",
                "available_verifiers",
                "check_file",
                "check_model",
                "check_safetensors",
                "check_torch",
                "detect_format",
                "get_verifier",
                "register_verifier",
            ),
            ".checks",
        ),
        **dict.fromkeys(
            (
                "ARCHIVE_KINDS",
                "DEFAULT_LIMITS",
                "MODEL_SUFFIXES",
                "ExtractedFile",
                "ExtractLimits",
                "UnsafeArchive",
                "archive_kind",
                "extract",
            ),
            ".extract",
        ),
    },
)

__all__ = [
    "ARCHIVE_KINDS",
    "DEFAULT_LIMITS",
    "MIN_TORCH",
    "MODEL_SUFFIXES",
    "CheckOptions",
    "ExtractLimits",
    "ExtractedFile",
    "FileVerifier",
    "InstallOutcome",
    "ModelFile",
    "Readiness",
    "UnsafeArchive",
    "Verdict",
    "Verifier",
    "archive_kind",
    "available_verifiers",
    "check_file",
    "check_model",
    "check_safetensors",
    "check_torch",
    "detect_format",
    "extract",
    "get_verifier",
    "install_step",
    "register_verifier",
    "version_tuple",
]

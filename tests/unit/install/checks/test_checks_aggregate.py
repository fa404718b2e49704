"""The model verdict: verifiers are injected, every one is treated alike, failures win."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path

from model_fetch.install.checks import (
    BuiltinVerifier,
    CheckOptions,
    FileVerifier,
    ModelFile,
    Readiness,
    Verdict,
    check_model,
)


def _safetensors(path: Path) -> Path:
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    return path


class _Recording:
    """A format-aware verifier: records what it was given and gives a fixed verdict to .h5 files."""

    name = "recording"

    def __init__(self, status: str = "passed") -> None:
        self.seen: list[tuple[list[ModelFile], CheckOptions]] = []
        self.status = status

    def check(self, _path: Path) -> Readiness | None:
        raise AssertionError("a format-aware verifier is asked through check_files")

    def check_files(
        self, files: Sequence[ModelFile], options: CheckOptions
    ) -> list[Verdict | None]:
        self.seen.append((list(files), options))
        ready = self.status == "passed"
        outcome = Readiness(ready=ready, checked="h5.recorded", reason=None if ready else "no")
        return [
            Verdict(status=self.status, readiness=outcome) if f.path.suffix == ".h5" else None  # type: ignore[arg-type]
            for f in files
        ]


class _Exploding:
    """A format-aware verifier that crashes."""

    name = "exploding"

    def check(self, _path: Path) -> Readiness | None:
        return None

    def check_files(self, _files: Sequence[ModelFile], _options: CheckOptions) -> list[Verdict]:
        raise RuntimeError("kaboom")


def test_format_aware_plugins_get_detected_files_and_the_options(tmp_path: Path) -> None:
    """A plugin with check_files sees every file with its format and the model check's options."""
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    _safetensors(tmp_path / "model.safetensors")
    recording = _Recording()
    assert isinstance(recording, FileVerifier)
    result = check_model(tmp_path, timeout=7.0, verifiers=[BuiltinVerifier(), recording])
    assert result.ready
    assert result.checked in {"h5.recorded+safetensors.header", "h5.recorded+safetensors.safe_open"}
    [(files, options)] = recording.seen
    assert [(f.path.name, f.format) for f in files] == [
        ("model.h5", "hdf5"),
        ("model.safetensors", "safetensors"),
    ]
    assert options == CheckOptions(timeout=7.0, allow_torchscript=False)


def test_a_failure_from_any_verifier_wins(tmp_path: Path) -> None:
    """A file one verifier fails is failed, whichever verifier passed it, in any order."""
    (tmp_path / "model.h5").write_bytes(b"data")
    only_builtin = check_model(tmp_path, verifiers=[BuiltinVerifier()])
    assert only_builtin.details["unchecked"] == ["model.h5"]
    assert check_model(tmp_path, verifiers=[BuiltinVerifier(), _Recording()]).ready
    for order in (
        [_Recording("failed"), BuiltinVerifier()],
        [BuiltinVerifier(), _Recording("failed")],
    ):
        result = check_model(tmp_path, verifiers=order)
        assert result.details["failed"] == ["model.h5"]
        assert result.reason == "model.h5: no"


def test_a_crashing_verifier_fails_the_model(tmp_path: Path) -> None:
    """A verifier that raises never lets a model pass: every file it was asked about fails."""
    _safetensors(tmp_path / "model.safetensors")
    result = check_model(tmp_path, verifiers=[BuiltinVerifier(), _Exploding()])
    assert not result.ready
    assert result.reason == "model.safetensors: verifier 'exploding' failed: kaboom"


def test_no_verifiers_judge_nothing(tmp_path: Path) -> None:
    """With no verifiers injected no file is judged, so the model is not ready."""
    _safetensors(tmp_path / "model.safetensors")
    result = check_model(tmp_path, verifiers=[])
    assert not result.ready
    assert result.reason == "no weights file found among 1 file(s)"

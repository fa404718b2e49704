"""The install step decides readiness with the verifiers it is given, never a module global."""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
from pathlib import Path

from model_fetch._models import DownloadOptions, FileRecord
from model_fetch.install import Readiness, install_step


class _Veto:
    """Refuses every safetensors file."""

    name = "veto"

    def check(self, path: Path) -> Readiness | None:
        if path.suffix != ".safetensors":
            return None
        return Readiness(ready=False, checked="veto", reason="vetoed")


def _staged(staging: Path) -> list[FileRecord]:
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    data = struct.pack("<Q", len(header)) + header + bytes(8)
    (staging / "model.safetensors").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return [FileRecord(path="model.safetensors", size=len(data), sha256=digest)]


def test_default_verifiers_are_the_registered_ones(tmp_path: Path) -> None:
    """Without verifiers the step runs every registered one, so a valid safetensors is ready."""
    outcome = install_step(str(tmp_path), _staged(tmp_path), DownloadOptions())
    assert outcome.readiness.ready
    assert outcome.readiness.checked in {"safetensors.header", "safetensors.safe_open"}


def test_injected_verifiers_decide(tmp_path: Path) -> None:
    """Verifiers passed in replace the registered ones: a veto makes the model not ready."""
    records = _staged(tmp_path)
    outcome = install_step(str(tmp_path), records, DownloadOptions(), verifiers=[_Veto()])
    assert not outcome.readiness.ready
    assert outcome.readiness.reason == "model.safetensors: vetoed"
    assert outcome.files == tuple(records)
    empty = install_step(str(tmp_path), records, DownloadOptions(), verifiers=[])
    assert empty.readiness.reason == "no weights file found among 1 file(s)"


def test_accept_files_trusts_a_named_trainer_pickle(tmp_path: Path) -> None:
    """A trainer pickle that would run code fails the model until the request accepts it."""
    records = _staged(tmp_path)
    evil = pickle.dumps(_Trainer(), protocol=2)
    (tmp_path / "training_args.bin").write_bytes(evil)
    records.append(
        FileRecord(
            path="training_args.bin", size=len(evil), sha256=hashlib.sha256(evil).hexdigest()
        )
    )
    refused = install_step(str(tmp_path), records, DownloadOptions())
    assert not refused.readiness.ready
    assert refused.readiness.details["failed"] == ["training_args.bin"]
    trusted = DownloadOptions(accept_files=["training_args.bin"])
    assert install_step(str(tmp_path), records, trusted).readiness.ready


class _Trainer:
    """Stands in for transformers' TrainingArguments: a class weights_only does not allow."""

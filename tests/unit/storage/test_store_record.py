"""The install record: what is written is read back, and a doubtful record is refused."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from fsspec.implementations.local import LocalFileSystem
from hypothesis import given

from model_fetch._models import FileRecord
from model_fetch.storage import RECORD_FORMAT, InstallRecord, make_record
from model_fetch.storage._layout import PENDING_GENERATION
from model_fetch.storage._record import (
    decode_record,
    encode_record,
    load_record,
    read_record_file,
)
from strategies import install_records

if TYPE_CHECKING:
    from pathlib import Path

FILE = FileRecord(path="weights/model.bin", size=3, sha256="ab" * 32)


def _document(**changes: Any) -> dict[str, Any]:
    record = make_record(
        name="org/bert",
        version="v1",
        source="url",
        download_url="https://example.com/model.bin",
        files=[FILE],
        metadata={"team": "nlp"},
        checksum_verified=True,
    )
    data = attrs.evolve(record, generation="g-0123456789abcdef").to_json()
    data.update(changes)
    return data


@pytest.mark.slow
@given(record=install_records())
def test_record_round_trips(record: InstallRecord) -> None:
    """A committed record reads back exactly as it was written, whatever its names and files."""
    assert decode_record(encode_record(record)) == record


@pytest.mark.slow
@given(record=install_records())
def test_record_document_is_stable(record: InstallRecord) -> None:
    """The record file is indented JSON with sorted keys and names its format."""
    text = encode_record(record).decode()
    data = json.loads(text)
    assert data["format"] == RECORD_FORMAT
    assert list(data) == sorted(data)
    assert text == json.dumps(data, indent=2, sort_keys=True)


def test_make_record_defaults() -> None:
    """A new record is pending, names its only file as primary, and has not been checked."""
    record = make_record(
        name="org/bert",
        version="refs/pr/1",
        source="huggingface",
        download_url="https://example.com/x",
        files=[FILE],
        metadata={},
        checksum_verified=False,
    )
    assert record.generation == PENDING_GENERATION
    assert record.primary == FILE.path
    assert record.model_id == "org--bert_refs--pr--1"
    assert record.readiness == {"checked": None, "reason": "not checked"}
    assert record.ready_for_inference is False
    assert record.size == FILE.size
    many = attrs.evolve(record, files=(FILE, attrs.evolve(FILE, path="b.bin")))
    assert many.size == 2 * FILE.size
    two = make_record(
        name="m",
        version="v1",
        source="url",
        download_url="u",
        files=list(many.files),
        metadata={},
        checksum_verified=False,
    )
    assert two.primary is None


@pytest.mark.parametrize(
    "changes",
    [
        {"format": 2},
        {"format": None},
        {"generation": "g-pending"},
        {"generation": "../elsewhere"},
        {"primary": "not-a-file.bin"},
        {"files": [{"path": "../../etc/passwd", "size": 1, "sha256": "00"}]},
        {"files": [{"path": "/abs", "size": 1, "sha256": "00"}]},
        {"files": [{"path": "a.bin", "size": "many", "sha256": "00"}]},
        {"archives": ["../outside.zip"]},
        {"installed_at": "yesterday"},
        {"readiness": None},
        {"primary": ["a.bin"]},
        {"primary": {"path": "a.bin"}},
    ],
    ids=repr,
)
def test_doubtful_records_are_refused(changes: dict[str, Any]) -> None:
    """A record of another format, an unsafe path or a bad generation counts as not installed."""
    with pytest.raises(ValueError, match="install record"):
        InstallRecord.from_json(_document(**changes))


@pytest.mark.parametrize("document", [b"[]", b'"install"', b"3", b"null"], ids=repr)
def test_json_that_is_not_an_object_is_refused(document: bytes) -> None:
    """An install.json holding JSON that is not an object counts as not installed, not a crash."""
    with pytest.raises(ValueError, match="install record"):
        decode_record(document)


def test_missing_field_is_refused() -> None:
    """A record without one of its required fields is refused, not half-read."""
    data = _document()
    del data["files"]
    with pytest.raises(ValueError, match="malformed install record"):
        InstallRecord.from_json(data)


def test_records_written_before_listings_still_read() -> None:
    """Records from before listings and archives existed still read (listing None, no archives)."""
    data = _document()
    del data["listing"], data["archives"], data["metadata"]
    record = InstallRecord.from_json(data)
    assert record.listing is None
    assert record.archives == ()
    assert record.metadata == {}


def test_reading_record_files(tmp_path: Path) -> None:
    """A record file is read back; a missing one is 'not installed'; garbage is refused."""
    fs = LocalFileSystem()
    good = tmp_path / "install.json"
    record = InstallRecord.from_json(_document())
    good.write_bytes(encode_record(record))
    assert read_record_file(fs, str(good)) == record
    assert load_record(fs, str(good)) == record
    with pytest.raises(FileNotFoundError):
        read_record_file(fs, str(tmp_path / "absent.json"))
    assert load_record(fs, str(tmp_path / "absent.json")) is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="Expecting"):
        read_record_file(fs, str(bad))
    assert load_record(fs, str(bad)) is None

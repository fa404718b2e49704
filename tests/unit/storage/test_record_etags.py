"""The install record's etags: kept through a round trip, and only hex digests become blob names."""

from __future__ import annotations

import json

import attrs
import pytest

from model_fetch._models import FileRecord
from model_fetch.storage import make_record
from model_fetch.storage._record import decode_record, encode_record

FILE = FileRecord(path="config.json", size=3, sha256="ab" * 32)


def _record(etags: dict[str, str]) -> bytes:
    record = make_record(
        name="org/bert",
        version="c" * 40,
        source="huggingface",
        download_url="https://example.com",
        files=[FILE],
        metadata={},
        checksum_verified=True,
        etags=etags,
    )
    return encode_record(attrs.evolve(record, generation="g-0123456789abcdef"))


def test_etags_round_trip_and_old_records_read() -> None:
    """A record keeps its files' etags; a record written before etags existed reads as none."""
    data = _record({"config.json": "1" * 40})
    assert decode_record(data).etags == {"config.json": "1" * 40}
    document = json.loads(data)
    del document["etags"]
    assert decode_record(json.dumps(document).encode()).etags == {}


@pytest.mark.parametrize("etag", ["../../escape", "ABC", "1" * 39, 'W/"1234"'])
def test_an_etag_that_is_not_a_hex_digest_is_refused(etag: str) -> None:
    """A blob is named by its etag, so a record whose etag is not a hex digest is unreadable."""
    document = json.loads(_record({}))
    document["etags"] = {"config.json": etag}
    with pytest.raises(ValueError, match="etag"):
        decode_record(json.dumps(document).encode())
    assert (
        make_record(
            name="m",
            version="v",
            source="url",
            download_url="u",
            files=[FILE],
            metadata={},
            checksum_verified=False,
            etags={"config.json": etag},
        ).etags
        == {}
    )

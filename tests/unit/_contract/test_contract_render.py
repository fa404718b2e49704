"""The renderer: every value becomes exactly its contract body, keys in the contract's order."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model_fetch._models
from model_fetch._contract import (
    Group,
    Shape,
    bodies,
    body,
    computed,
    constant,
    describe,
    layout,
    render,
    wire,
)
from model_fetch._models import (
    MIB,
    CachedModel,
    CacheInfo,
    DownloadOptions,
    InstallResult,
    JobFailed,
    Progress,
    RemovalResult,
)
from strategies import WIRE_VALUES, without_library_only

MOMENT = dt.datetime(2025, 8, 14, 10, 35, 22, tzinfo=dt.UTC)


def test_completed_body_is_the_contracts() -> None:
    """An install renders as the contract's "Download Completed" example, key for key."""
    result = InstallResult(
        model_name="resnet50",
        version="v1.0",
        file_path="/models/resnet50-v1.0.pth",
        size_bytes=102_530_333,
        download_duration_seconds=42.30049,
        checksum_verified=True,
        installed_at=MOMENT,
        model_id="resnet50_v1.0",
        ready_for_inference=True,
        readiness={"checked": "torch.weights_only", "reason": None},
        source="default",
    )
    body = render(result)
    assert json.dumps(body) == json.dumps(
        {
            "status": "completed",
            "message": "Model downloaded and installed successfully",
            "model_name": "resnet50",
            "version": "v1.0",
            "file_path": "/models/resnet50-v1.0.pth",
            "file_size_mb": 97.8,
            "download_duration_seconds": 42.3,
            "checksum_verified": True,
            "installation": {
                "status": "success",
                "installed_at": "2025-08-14T10:35:22.000Z",
                "model_id": "resnet50_v1.0",
                "ready_for_inference": True,
            },
        }
    ), "same keys, same order, same values"
    assert result.to_dict() == body


def test_removal_and_cache_bodies_are_the_contracts() -> None:
    """Removal and cache-info bodies nest and order their keys as related-endpoints.md shows."""
    removal = RemovalResult(
        model_name="efficientnet",
        version="v1.0",
        removed_versions=("v1.0",),
        removed_at=MOMENT,
        freed_bytes=52 * MIB,
        removed_files=("a.bin",),
        remaining_versions=("v1.1",),
    )
    assert list(render(removal)) == [
        "status",
        "message",
        "model_name",
        "version",
        "removal_details",
        "remaining_versions",
    ]
    assert render(removal)["status"] == "version_removed"
    assert list(render(removal)["removal_details"]) == [
        "files_deleted",
        "removed_at",
        "disk_space_freed_mb",
        "removed_files",
    ]
    cache = CacheInfo(
        cache_directory="/s",
        total_bytes=10 * MIB,
        used_bytes=3 * MIB,
        available_bytes=7 * MIB,
        models=(CachedModel(model_name="m", version="v", size_bytes=MIB, last_accessed=MOMENT),),
        deduplicated_bytes=MIB // 2,
        download_bytes=MIB // 2,
        download_entries=1,
        partial_downloads=1,
        completed_downloads=0,
        last_updated=MOMENT,
    )
    assert render(cache) == {
        "cache_info": {
            "cache_directory": "/s",
            "total_cache_size_mb": 10.0,
            "used_cache_size_mb": 3.0,
            "available_cache_size_mb": 7.0,
            "cache_usage_percentage": 30.0,
            "last_updated": "2025-08-14T10:35:22.000Z",
        },
        "model_cache": {
            "enabled": True,
            "current_size_mb": 1.0,
            "entry_count": 1,
            "models_cached": [
                {
                    "model_name": "m",
                    "version": "v",
                    "cache_size_mb": 1.0,
                    "last_accessed": "2025-08-14T10:35:22.000Z",
                }
            ],
            "deduplicated_size_mb": 0.5,
        },
        "download_cache": {
            "enabled": True,
            "current_size_mb": 0.5,
            "entry_count": 1,
            "partial_downloads": 1,
            "completed_downloads": 0,
        },
    }
    assert list(render(cache)["cache_info"])[-1] == "last_updated"


def test_optional_keys_are_left_out_as_declared() -> None:
    """bytes_from appears only with a mirror; option extras only when they differ from defaults."""
    assert "bytes_from" not in render(Progress())
    assert render(Progress(bytes_from="mirror"))["bytes_from"] == "mirror"
    assert "downloaded_bytes" not in render(Progress(downloaded_bytes=5))
    assert render(DownloadOptions()) == {
        "chunk_size": 8192,
        "timeout": 300,
        "retry_count": 3,
        "verify_ssl": True,
        "extract_after_download": True,
        "cleanup_temp_files": True,
    }
    extras = render(
        DownloadOptions(connections=4, allow_patterns=["*.bin"], allow_torchscript=True)
    )
    assert extras["connections"] == 4
    assert extras["allow_patterns"] == ["*.bin"]
    assert extras["allow_torchscript"] is True
    failed = render(JobFailed(download_id="d", model_name="m", version="v", error="boom"))
    assert "cancelled" not in failed
    assert "status_code" not in failed


def _wire_classes() -> list[type]:
    return sorted(WIRE_VALUES, key=lambda cls: cls.__name__)


def test_every_declared_body_has_a_strategy() -> None:
    """Every wire body model_fetch declares is covered by the property tests below."""
    declared = {cls for cls in bodies() if cls.__module__.startswith(model_fetch._models.__name__)}
    assert declared == set(WIRE_VALUES)


@pytest.mark.parametrize("cls", _wire_classes(), ids=lambda cls: cls.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_rendered_keys_follow_the_declared_shape(cls: type, data: st.DataObject) -> None:
    """A body holds its shape's keys in order: every required one, an optional one only if set."""
    value = data.draw(WIRE_VALUES[cls])
    body = render(value)
    json.dumps(body)  # the body is plain JSON
    if hasattr(value, "to_dict"):
        assert value.to_dict() == body
    _check_order(without_library_only(cls, body), describe(cls).keys)


def _check_order(body: dict[str, Any], keys: tuple[Any, ...]) -> None:
    expected = [key.name for key in keys if key.required or key.name in body]
    assert list(body) == expected
    for key in keys:
        if isinstance(key.type, Shape):
            _check_order(body[key.name], key.type.keys)


def test_hidden_fields_never_reach_the_wire() -> None:
    """Fields marked hidden (readiness, directory, byte counts) are for Python callers only."""
    for cls in WIRE_VALUES:
        hidden = {
            field.name
            for field in attrs.fields(cls)
            if field.metadata.get("wire") is not None and field.metadata["wire"].hidden
        }
        assert not hidden & {key.name for key in describe(cls).keys}


def _declare(**options: Any) -> type:
    """A one-field body declared on the fly, for the declaration checks."""
    name = options.pop("name")

    @body(name, "A test body.", *options.pop("keys", ()), groups=options.pop("groups", None))
    @attrs.frozen
    class Sample:
        first: int = attrs.field(metadata=wire(**options))

    return Sample


@pytest.mark.parametrize(
    ("declaration", "complaint"),
    [
        ({"name": "BadGroup", "group": "nowhere"}, "no group"),
        ({"name": "BadAfter", "keys": (computed("x", int, after="missing"),)}, "no field"),
        ({"name": "BadTwice", "key": "x", "keys": (constant("x", "y"),)}, "twice"),
        (
            {"name": "BadUnused", "groups": {"g": Group(name="G", doc="unused")}},
            "hold no key",
        ),
    ],
)
def test_inconsistent_declarations_are_refused(declaration: dict[str, Any], complaint: str) -> None:
    """A body that names an unknown group or field, or a key twice, fails on first use."""
    cls = _declare(**declaration)
    with pytest.raises(TypeError, match=complaint):
        layout(cls)


def test_only_attrs_classes_become_bodies() -> None:
    """Declaring a plain class a body is refused at once, and rendering one is a TypeError."""
    with pytest.raises(TypeError, match="attrs"):
        body("NotAttrs", "no")(type("Plain", (), {}))
    with pytest.raises(TypeError, match="not a wire body"):
        render(object())

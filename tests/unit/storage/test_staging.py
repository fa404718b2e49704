"""The staging area reclaims what no live install holds, and nothing that one does."""

from __future__ import annotations

from pathlib import Path

from model_fetch.storage._staging import StagingArea


def _area(tmp_path: Path) -> StagingArea:
    base = tmp_path / ".staging"
    return StagingArea(lambda: str(base))


def test_a_held_staging_survives_another_areas_reclaim(tmp_path: Path) -> None:
    """Two stores on one directory (two downloaders): neither deletes the other's live staging."""
    mine, theirs = _area(tmp_path), _area(tmp_path)
    staging = Path(mine.new())
    (staging / "model.bin").write_bytes(b"x" * 1000)
    assert theirs.reclaim() == (0, 0)
    assert theirs.usage() == (1000, 1)
    assert staging.is_dir()
    mine.discard(staging.as_posix())
    assert sorted(p.name for p in (tmp_path / ".staging").iterdir()) == []


def test_unlocked_leftovers_are_reclaimed_with_their_lock_files(tmp_path: Path) -> None:
    """A dead owner's staging and scratch, an old unlocked extract-* and a lone lock file all go."""
    base = tmp_path / ".staging"
    for name in ("stage-dead", "stage-dead.extract-1", "extract-old"):
        (base / name).mkdir(parents=True)
        (base / name / "f").write_bytes(b"y" * 10)
    (base / "stage-dead.lock").touch()
    (base / "stage-gone.lock").touch()
    assert _area(tmp_path).reclaim() == (2, 30)
    assert list(base.iterdir()) == []


def test_a_committed_staging_lets_its_lock_go(tmp_path: Path) -> None:
    """Once the directory was moved away (the commit), finish leaves no lock file behind."""
    area = _area(tmp_path)
    staging = Path(area.new())
    staging.rename(tmp_path / "generation")
    area.finish(staging.as_posix())
    assert list((tmp_path / ".staging").iterdir()) == []

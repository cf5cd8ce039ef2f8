"""The adapter cache's folder swap: staged, renamed, safe beside concurrent writers.

Two workers started together fetch the same adapter version into the same
cache folder; neither may fail for the other's rename, and a copy already in
place for the same version stays (a worker may be loading its files).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from models.llm.registry import replace_dir


def _source(root: Path, name: str) -> Path:
    folder = root / name
    (folder / "nested").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(name.encode() * 1000)
    (folder / "nested" / "meta.json").write_text(name)
    return folder


def _copy_of(folder: Path) -> str:
    """Which source a folder is a whole copy of (raises when it is mixed or partial)."""
    weights = (folder / "weights.bin").read_bytes()
    name = (folder / "nested" / "meta.json").read_text()
    assert weights == name.encode() * 1000, "a folder mixing two copies"
    return name


def test_concurrent_writers_all_succeed_and_leave_one_whole_copy(tmp_path):
    sources = [_source(tmp_path / "src", f"copy{i}") for i in range(6)]
    target = tmp_path / "cache" / "explain" / "v3"
    errors: list[BaseException] = []
    start = threading.Barrier(len(sources))

    def write(source: Path) -> None:
        start.wait()
        try:
            for _ in range(30):
                replace_dir(source, target)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _copy_of(target) in {s.name for s in sources}
    # Nothing staged or moved aside is left behind.
    assert sorted(p.name for p in target.parent.iterdir()) == ["v3"]


def test_a_copy_the_caller_would_keep_stays_in_place(tmp_path):
    first, second = _source(tmp_path, "first"), _source(tmp_path, "second")
    target = tmp_path / "cache" / "v1"
    replace_dir(first, target)
    loading = (target / "weights.bin").open("rb")  # a worker reading this copy
    try:
        replace_dir(second, target, keep=lambda found: _copy_of(found) == "first")
        assert _copy_of(target) == "first"
        assert (target / "weights.bin").stat().st_ino == os.fstat(loading.fileno()).st_ino
    finally:
        loading.close()
    assert sorted(p.name for p in target.parent.iterdir()) == ["v1"]


def test_a_copy_not_worth_keeping_is_replaced(tmp_path):
    good = _source(tmp_path, "good")
    target = tmp_path / "cache" / "v1"
    target.mkdir(parents=True)
    (target / "weights.bin").write_bytes(b"half a download")

    replace_dir(good, target, keep=lambda found: (found / "nested" / "meta.json").exists())

    assert _copy_of(target) == "good"
    assert sorted(p.name for p in target.parent.iterdir()) == ["v1"]


def test_replacing_a_folder_with_itself_changes_nothing(tmp_path):
    folder = _source(tmp_path, "same")
    replace_dir(folder, folder)
    assert _copy_of(folder) == "same"


def test_folders_left_by_a_killed_writer_are_swept_a_live_writers_are_not(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "adapter.bin").write_bytes(b"v2")
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = [cache / ".explain.new-dead1", cache / ".explain.old-dead2"]
    live = cache / ".explain.new-live"
    for folder in (*stale, live):
        folder.mkdir()
        (folder / "adapter.bin").write_bytes(b"partial")
    hours_ago = time.time() - 2 * 3600
    for folder in stale:
        os.utime(folder, (hours_ago, hours_ago))
    other = cache / ".analyse.new-dead3"  # another adapter's: not this writer's to judge
    other.mkdir()
    os.utime(other, (hours_ago, hours_ago))
    replace_dir(source, cache / "explain")
    assert (cache / "explain" / "adapter.bin").read_bytes() == b"v2"
    assert not any(folder.exists() for folder in stale)
    assert live.exists() and other.exists()


def test_a_copy_of_an_old_source_is_not_swept_as_a_leftover(tmp_path, monkeypatch):
    import models.llm.registry as registry

    source = tmp_path / "source"
    source.mkdir()
    (source / "adapter.bin").write_bytes(b"v1")
    hours_ago = time.time() - 2 * 3600
    os.utime(source, (hours_ago, hours_ago))  # an adapter trained hours ago
    cache = tmp_path / "cache"
    cache.mkdir()
    real_rename = os.rename

    def rename_after_a_concurrent_sweep(src, dst):
        registry._sweep_leftovers(cache, "explain")  # another writer starting now
        return real_rename(src, dst)

    monkeypatch.setattr(registry.os, "rename", rename_after_a_concurrent_sweep)
    replace_dir(source, cache / "explain")  # its staging copy used to be swept: ENOENT
    assert (cache / "explain" / "adapter.bin").read_bytes() == b"v1"

"""Local storage: write, verify, rename; idempotent; keys cannot leave the folder; crash-safe."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from recordings.errors import InvalidKey, NotStored
from recordings.storage import CHUNK, LocalStorage, Storage, StoredObject, validate_key

ROOT = Path(__file__).resolve().parents[2]
KEY = "recordings/RE0123456789abcdef0123456789abcdef.mp3"


def source(tmp_path: Path, content: bytes, name: str = "source.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store")


def test_local_storage_is_a_storage(storage: LocalStorage) -> None:
    assert isinstance(storage, LocalStorage)
    as_protocol: Storage = storage
    assert as_protocol is storage


def test_put_then_open_exists_and_delete(storage: LocalStorage, tmp_path: Path) -> None:
    content = os.urandom(3 * CHUNK + 17)
    stored = storage.put(KEY, source(tmp_path, content))
    assert stored == StoredObject(KEY, len(content), hashlib.sha256(content).hexdigest())
    assert storage.exists(KEY)
    with storage.open(KEY) as f:
        assert f.read() == content
    opened = storage.open(KEY)
    assert opened.size == len(content)
    opened.stream.close()
    assert files_under(storage.root) == [KEY]
    assert storage.delete(KEY) is True
    assert storage.delete(KEY) is False
    assert not storage.exists(KEY)
    with pytest.raises(NotStored):
        storage.open(KEY)


def test_stored_files_are_private_to_the_service_user(
    storage: LocalStorage, tmp_path: Path
) -> None:
    storage.put(KEY, source(tmp_path, b"audio"))
    assert storage.path(KEY).stat().st_mode & 0o077 == 0


def test_putting_the_same_content_twice_changes_nothing(
    storage: LocalStorage, tmp_path: Path
) -> None:
    src = source(tmp_path, b"the same audio" * 1000)
    first = storage.put(KEY, src)
    before = storage.path(KEY).stat()
    second = storage.put(KEY, src)
    after = storage.path(KEY).stat()
    assert first == second
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert files_under(storage.root) == [KEY]


def test_putting_other_content_replaces_the_file(storage: LocalStorage, tmp_path: Path) -> None:
    storage.put(KEY, source(tmp_path, b"old", "old"))
    stored = storage.put(KEY, source(tmp_path, b"new content", "new"))
    assert stored.size == len(b"new content")
    assert storage.path(KEY).read_bytes() == b"new content"
    assert files_under(storage.root) == [KEY]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../outside.mp3",
        "recordings/../../outside.mp3",
        "/etc/passwd",
        "recordings//RE1.mp3",
        "recordings/",
        ".hidden",
        "recordings/.RE1.mp3.part",
        "recordings/..",
        "recordings\\..\\outside",
        "recordings/RE 1.mp3",
        "recordings/RE1.mp3\x00",
        "x" * 256,
    ],
)
def test_keys_that_could_escape_or_hide_are_refused(
    storage: LocalStorage, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InvalidKey):
        storage.put(key, source(tmp_path, b"x"))
    with pytest.raises(InvalidKey):
        storage.exists(key)
    assert not (tmp_path / "outside.mp3").exists()


def test_valid_keys_pass_unchanged() -> None:
    assert validate_key(KEY) == KEY
    assert validate_key("a/b-c_d.e/f.mp3") == "a/b-c_d.e/f.mp3"


def test_a_symlinked_folder_leading_outside_is_refused(
    storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.root.mkdir()
    (storage.root / "recordings").symlink_to(outside)
    with pytest.raises(InvalidKey, match="outside"):
        storage.put("recordings/RE1.mp3", source(tmp_path, b"x"))
    assert list(outside.iterdir()) == []


CHILD = """
import sys
from pathlib import Path
from recordings.storage import LocalStorage
LocalStorage(Path(sys.argv[1])).put(sys.argv[2], Path(sys.argv[3]))
"""


def _open_writer(fifo: Path, child: subprocess.Popen[bytes]) -> int:
    """The write end of the FIFO, once the child has opened the read end (never blocks)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return fd
    raise AssertionError("the child never opened the FIFO")


def test_a_writer_killed_mid_copy_leaves_no_complete_looking_file_and_a_rerun_finishes(
    storage: LocalStorage, tmp_path: Path
) -> None:
    """A real crash: another process copies from a FIFO and is SIGKILLed half way."""
    fifo = tmp_path / "download.fifo"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(storage.root), KEY, str(fifo)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    fd = -1
    try:
        fd = _open_writer(fifo, child)
        content = os.urandom(3 * CHUNK)
        os.write(fd, content[: CHUNK + CHUNK // 2])  # the child copies one chunk, waits
        part = storage.path(KEY).with_name(f".{Path(KEY).name}.part")
        deadline = time.monotonic() + 20
        while not (part.exists() and part.stat().st_size >= CHUNK):
            assert time.monotonic() < deadline, "the child never wrote its first chunk"
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()  # reaps it and closes its stderr pipe
        if fd >= 0:
            os.close(fd)
    assert child.returncode == -signal.SIGKILL

    assert not storage.exists(KEY)
    assert not storage.path(KEY).exists()
    with pytest.raises(NotStored):
        storage.open(KEY)
    assert files_under(storage.root) == [str(part.relative_to(storage.root))]

    stored = storage.put(KEY, source(tmp_path, content))
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert storage.path(KEY).read_bytes() == content
    assert files_under(storage.root) == [KEY]


def test_concurrent_writers_of_one_key_take_turns(storage: LocalStorage, tmp_path: Path) -> None:
    contents = [bytes([i]) * (CHUNK + i) for i in range(4)]
    sources = [source(tmp_path, c, f"s{i}") for i, c in enumerate(contents)]
    errors: list[BaseException] = []

    def write(src: Path) -> None:
        try:
            for _ in range(10):
                storage.put(KEY, src)
        except BaseException as exc:  # noqa: BLE001  (reported by the assert below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert storage.path(KEY).read_bytes() in contents
    assert files_under(storage.root) == [KEY]

"""Where processed recordings are kept: the `Storage` protocol and a local-folder implementation.

Keys are relative, slash-separated names such as ``recordings/RE0123.mp3``; every segment
starts with a letter or digit and holds only ``A-Z a-z 0-9 . _ -``, so a key can name neither
a parent folder (``..``), an absolute path, nor one of the hidden work files below.
An object store (S3 and the like) can implement the same four methods.

`LocalStorage.put` never lets a half-written file look complete: it copies into a hidden
``.<name>.part`` file next to the target, fsyncs it, reads it back to check its size and
SHA-256 against what it copied, and only then renames it over the target (atomic on POSIX)
and fsyncs the folder. A process killed mid-copy leaves only the ``.part`` file, which the
next `put` of the same key reuses, so a re-run ends with exactly one file. Writers of the same
key take turns on an exclusive lock of that ``.part`` file (POSIX `flock`; the lock goes with
the process if it dies).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from recordings.errors import InvalidKey, NotStored, VerifyFailed

KEY_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_KEY_LENGTH = 255
CHUNK = 1 << 20
FILE_MODE = 0o600  # call audio is personal data: readable by the service's own user only


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A stored file as `put` left it (record `sha256` to check the file later)."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An open stored file and its size in bytes (what a Range response needs); close it."""

    stream: BinaryIO
    size: int

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stream.close()


class Storage(Protocol):
    """Somewhere to keep recordings under string keys."""

    def put(self, key: str, source: Path) -> StoredObject:
        """Store a copy of the local file `source` under `key`, completely or not at all.

        Idempotent: putting the same content again changes nothing; other content replaces
        the old file atomically (a readers sees the old or the new one, never a mix).
        """
        ...

    def open(self, key: str) -> StoredFile:
        """The stored file for reading; raises `NotStored` if there is none."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the file; True if there was one. Deleting twice is harmless."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a complete file is stored under `key`."""
        ...


def validate_key(key: str) -> str:
    """`key` itself if it is a valid storage key, else `InvalidKey` (see the module docstring)."""
    if (
        not isinstance(key, str)
        or not key
        or len(key) > MAX_KEY_LENGTH
        or not all(KEY_SEGMENT.fullmatch(segment) for segment in key.split("/"))
    ):
        raise InvalidKey(f"invalid storage key {key!r}", key=str(key)[:MAX_KEY_LENGTH])
    return key


def file_sha256(path: Path) -> tuple[int, str]:
    """The size and hex SHA-256 of a file, read in 1 MiB chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class LocalStorage:
    """Recordings as files under `root` (the app uses ``instance/recordings``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file that holds `key`; raises `InvalidKey` for a key that would leave `root`."""
        path = self.root / validate_key(key)
        # Key syntax already rules out "..": this also refuses a symlinked folder inside root
        # that points elsewhere.
        real_root = os.path.realpath(self.root)
        if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
            raise InvalidKey(f"storage key {key!r} leads outside the storage folder", key=key)
        return path

    def put(self, key: str, source: Path) -> StoredObject:
        """See `Storage.put`. Raises `VerifyFailed` (and publishes nothing) if the copy read
        back differs from what was copied; `OSError` (disk full, permissions) propagates."""
        target = self.path(key)
        if target.is_file():
            size, sha = file_sha256(source)
            if file_sha256(target) == (size, sha):
                return StoredObject(key, size, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        fd = _lock_part_file(part)
        try:
            os.ftruncate(fd, 0)
            size, sha = _copy(source, fd)
            os.fsync(fd)
            stored = _read_back(fd)
            if stored != (size, sha):
                os.unlink(part)
                raise VerifyFailed(
                    f"{key}: read back {stored[0]} bytes {stored[1][:12]}, "
                    f"copied {size} bytes {sha[:12]}",
                    key=key,
                )
            os.replace(part, target)
        finally:
            os.close(fd)  # releases the lock
        _fsync_folder(target.parent)
        return StoredObject(key, size, sha)

    def open(self, key: str) -> StoredFile:
        """See `Storage.open`."""
        try:
            stream = self.path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotStored(f"nothing stored under {key!r}", key=key) from exc
        return StoredFile(stream, os.fstat(stream.fileno()).st_size)

    def delete(self, key: str) -> bool:
        """See `Storage.delete`."""
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_folder(path.parent)
        return True

    def exists(self, key: str) -> bool:
        """See `Storage.exists`."""
        return self.path(key).is_file()


def _lock_part_file(part: Path) -> int:
    """An fd of `part`, exclusively locked, that is still the file named `part`.

    A writer that waited for the lock may find that the previous holder has meanwhile
    renamed the file it opened to the target; it then opens `part` afresh.
    """
    while True:
        fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                named = os.stat(part)
            except FileNotFoundError:
                named = None
        except BaseException:
            os.close(fd)
            raise
        if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)


def _copy(source: Path, fd: int) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            size += len(chunk)
    return size, digest.hexdigest()


def _read_back(fd: int) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := os.pread(fd, CHUNK, size):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable (POSIX: fsync the directory itself)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Safe handling of FMU archives: check every member first, then extract; and the archive's SHA-256.

An FMU is a ZIP archive from an untrusted source. :func:`safe_extract` refuses the whole archive, before it
writes anything, when one member could land outside the destination folder or the archive would unpack to
more than a size limit:

- absolute paths (``/etc/passwd``), drive letters (``C:evil``, ``C:/evil``) and UNC paths,
- ``..`` components (``../../evil``),
- backslashes anywhere in a name (``..\\evil``; the ZIP format and the FMI standard use ``/`` only),
- NUL bytes in a name, empty names,
- symbolic links and other special files (device, FIFO, socket) recorded in the Unix mode bits,
- a total declared uncompressed size above ``max_total_size`` (a zip bomb; 2 GiB by default),
- more than ``max_members`` members.

The checks only read the central directory; no byte is decompressed before every member has passed.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from os import PathLike
from pathlib import Path

from phystwin.errors import PhystwinError

__all__ = [
    "DEFAULT_MAX_MEMBERS",
    "DEFAULT_MAX_TOTAL_SIZE",
    "FMUArchiveError",
    "check_archive",
    "safe_extract",
    "sha256_file",
]

DEFAULT_MAX_TOTAL_SIZE = 2 * 1024**3
"""Largest total uncompressed size :func:`safe_extract` accepts by default (2 GiB)."""

DEFAULT_MAX_MEMBERS = 100_000
"""Largest number of archive members :func:`safe_extract` accepts by default."""

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20


class FMUArchiveError(PhystwinError, ValueError):
    """An FMU archive cannot be read, or is refused because a member is unsafe to extract."""


def _unix_mode(info: zipfile.ZipInfo) -> int:
    """The Unix mode bits recorded for a member (0 when the archive was not written on a Unix system)."""
    return (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member must not be extracted, or None when it is safe."""
    name = info.orig_filename
    if name == "":
        return "has an empty name"
    if "\x00" in name:
        return "contains a NUL byte"
    if "\\" in name:
        return "contains a backslash (member names must use '/' as separator)"
    if name.startswith("/"):
        return "is an absolute path (expected a path relative to the archive root)"
    if _DRIVE.match(name):
        return "starts with a drive letter (expected a path relative to the archive root)"
    if ".." in name.split("/"):
        return "contains a '..' component (it would be written outside the destination folder)"
    mode = _unix_mode(info)
    if mode:
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            return "is a symbolic link (only regular files and folders are extracted)"
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            return f"is a special file (mode {oct(mode)}; only regular files and folders are extracted)"
    return None


def _open(fmu_path: str | PathLike[str]) -> zipfile.ZipFile:
    path = Path(fmu_path)
    if not path.is_file():
        raise FMUArchiveError(f"no such FMU file: {path}")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FMUArchiveError(f"{path} is not an FMU: expected a ZIP archive ({exc})") from None
    except OSError as exc:
        raise FMUArchiveError(f"cannot read {path}: {exc}") from None


def _check_members(zf: zipfile.ZipFile, where: str, max_total_size: int, max_members: int) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > max_members:
        raise FMUArchiveError(f"{where}: refused, {len(infos)} members (expected at most {max_members})")
    total = 0
    for info in infos:
        problem = _member_problem(info)
        if problem is not None:
            raise FMUArchiveError(f"{where}: refused, member {info.orig_filename!r} {problem}")
        if info.file_size < 0:
            raise FMUArchiveError(f"{where}: refused, member {info.orig_filename!r} declares a negative size")
        total += info.file_size
        if total > max_total_size:
            raise FMUArchiveError(
                f"{where}: refused, member {info.orig_filename!r} brings the uncompressed size to {total} bytes "
                f"(expected at most {max_total_size} bytes; a zip bomb?)"
            )
    return infos


def check_archive(
    fmu_path: str | PathLike[str],
    *,
    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> list[str]:
    """Check an FMU archive without extracting it.

    Parameters
    ----------
    fmu_path
        The ``.fmu`` file.
    max_total_size
        Largest total declared uncompressed size in bytes.
    max_members
        Largest number of members.

    Returns
    -------
    list of str
        The member names, in archive order.

    Raises
    ------
    FMUArchiveError
        The file is missing or not a ZIP archive, or a member is unsafe (the message names it).
    """
    with _open(fmu_path) as zf:
        return [i.orig_filename for i in _check_members(zf, str(fmu_path), max_total_size, max_members)]


def _inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def safe_extract(
    fmu_path: str | PathLike[str],
    dest_dir: str | PathLike[str],
    *,
    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Path:
    """Extract an FMU archive into ``dest_dir`` after checking every member.

    Nothing is written when a member is refused. Each target path is also resolved against the real
    destination folder before it is written, so a symbolic link already present inside ``dest_dir`` cannot
    redirect a write outside it either.

    Parameters
    ----------
    fmu_path
        The ``.fmu`` file.
    dest_dir
        Destination folder (created when missing).
    max_total_size
        Largest total uncompressed size in bytes (default 2 GiB); larger archives are refused as zip bombs.
    max_members
        Largest number of members.

    Returns
    -------
    Path
        The resolved destination folder.

    Raises
    ------
    FMUArchiveError
        The archive is missing, not a ZIP archive, corrupt, or refused; the message names the member.
    """
    where = str(fmu_path)
    with _open(fmu_path) as zf:
        infos = _check_members(zf, where, max_total_size, max_members)
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve(strict=True)
        targets: list[tuple[zipfile.ZipInfo, Path]] = []
        for info in infos:
            parts = [p for p in info.orig_filename.split("/") if p not in ("", ".")]
            target = root.joinpath(*parts) if parts else root
            if not _inside(root, target.resolve()):
                raise FMUArchiveError(f"{where}: refused, member {info.orig_filename!r} resolves outside {root}")
            targets.append((info, target))
        written = 0
        for info, target in targets:
            try:
                (target if info.is_dir() else target.parent).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise FMUArchiveError(
                    f"{where}: cannot create the folder of member {info.orig_filename!r}: {exc}"
                ) from None
            if info.is_dir():
                continue
            if not _inside(root, target.parent.resolve()):
                raise FMUArchiveError(f"{where}: refused, member {info.orig_filename!r} resolves outside {root}")
            written += _copy_member(zf, info, target, where, max_total_size - written)
        return root


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, where: str, budget: int) -> int:
    """Stream one member to ``target``; at most ``budget`` bytes. Returns the bytes written."""
    size = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        with zf.open(info) as src, os.fdopen(os.open(target, flags, 0o644), "wb") as dst:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > info.file_size or size > budget:
                    raise FMUArchiveError(
                        f"{where}: refused, member {info.orig_filename!r} unpacks to more than its declared "
                        f"{info.file_size} bytes (or past the size limit)"
                    )
                dst.write(chunk)
    except (FMUArchiveError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        _remove(target)
        if isinstance(exc, FMUArchiveError):
            raise
        raise FMUArchiveError(f"{where}: member {info.orig_filename!r} cannot be extracted: {exc}") from None
    except OSError as exc:
        _remove(target)
        raise FMUArchiveError(f"{where}: cannot write member {info.orig_filename!r} to {target}: {exc}") from None
    return size


def _remove(path: Path) -> None:
    """Remove a partly written member (it may not exist, or be something we must not touch)."""
    if path.is_file() and not path.is_symlink():
        path.unlink()


def sha256_file(path: str | PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as 64 lowercase hex digits.

    Parameters
    ----------
    path
        Any file (typically the ``.fmu``).

    Returns
    -------
    str
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

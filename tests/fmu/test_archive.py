"""Safe extraction of FMU archives: real ZIP files, malicious members refused before anything is written."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phystwin.fmu.archive import FMUArchiveError, check_archive, safe_extract, sha256_file

MD = b'<?xml version="1.0"?><fmiModelDescription fmiVersion="2.0" modelName="m" guid="{0}"/>'


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _patch_declared_size(path: Path, size: int) -> None:
    """Overwrite the uncompressed size of the (single) member in the central directory."""
    raw = bytearray(path.read_bytes())
    at = raw.index(b"PK\x01\x02")
    raw[at + 24 : at + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(raw))


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """``(root, dest)``: dest is three levels below root, so ``../../x`` would still land inside root."""
    dest = tmp_path / "a" / "b" / "dest"
    dest.parent.mkdir(parents=True)
    return tmp_path, dest


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


MALICIOUS = {
    "dotdot": ("../../evil", "'..' component"),
    "dotdot_deep": ("resources/../../../evil", "'..' component"),
    "absolute": ("/abs/path", "absolute path"),
    "backslash_dotdot": ("..\\evil", "backslash"),
    "backslash_unc": ("\\\\server\\share\\evil", "backslash"),
    "drive_slash": ("C:/evil", "drive letter"),
    "drive_relative": ("c:evil", "drive letter"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_member_names_are_refused(sandbox, case: str) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    name, reason = MALICIOUS[case]
    fmu = _zip(root / "evil.fmu", [("modelDescription.xml", MD), (zipfile.ZipInfo(name), b"pwned")])
    before = _listing(root)
    with pytest.raises(FMUArchiveError) as err:
        safe_extract(fmu, dest)
    assert repr(name) in str(err.value) and reason in str(err.value)
    assert _listing(root) == before  # nothing written, not even dest itself
    with pytest.raises(FMUArchiveError, match=reason):
        check_archive(fmu)


def test_nul_byte_in_member_name_is_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    fmu = _zip(root / "nul.fmu", [("binaries/x.so_.txt", b"pwned")])
    fmu.write_bytes(fmu.read_bytes().replace(b"x.so_.txt", b"x.so\x00.txt"))  # zipfile will not write a NUL
    with pytest.raises(FMUArchiveError, match="NUL byte"):
        safe_extract(fmu, dest)
    assert not dest.exists()


def test_symlink_member_is_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    fmu = _zip(root / "link.fmu", [("modelDescription.xml", MD), _symlink("resources/passwd", "/etc/passwd")])
    before = _listing(root)
    with pytest.raises(FMUArchiveError, match=r"'resources/passwd' is a symbolic link"):
        safe_extract(fmu, dest)
    assert _listing(root) == before


def test_special_file_member_is_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    info = zipfile.ZipInfo("fifo")
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    fmu = _zip(root / "fifo.fmu", [(info, b"")])
    with pytest.raises(FMUArchiveError, match="special file"):
        safe_extract(fmu, dest)
    assert not dest.exists()


def test_zip_bomb_by_declared_size_is_refused_with_the_default_limit(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    fmu = _zip(root / "bomb.fmu", [("resources/big.bin", b"\0" * 1000)])
    _patch_declared_size(fmu, 0xFFFFFFF0)  # declares ~4 GiB, above the 2 GiB default
    before = _listing(root)
    with pytest.raises(FMUArchiveError, match=r"'resources/big\.bin'.*at most 2147483648 bytes"):
        safe_extract(fmu, dest)
    assert _listing(root) == before


def test_zip_bomb_limit_is_configurable(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    fmu = _zip(root / "zeros.fmu", [("a.bin", b"\0" * 600_000), ("b.bin", b"\0" * 600_000)])
    assert fmu.stat().st_size < 10_000  # highly compressed: the ratio is what a bomb uses
    with pytest.raises(FMUArchiveError, match=r"'b\.bin' brings the uncompressed size to 1200000 bytes"):
        safe_extract(fmu, dest, max_total_size=1_000_000)
    assert not dest.exists()
    assert safe_extract(fmu, dest, max_total_size=1_200_000) == dest.resolve()
    assert (dest / "b.bin").stat().st_size == 600_000


def test_member_that_unpacks_past_its_declared_size_is_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    fmu = _zip(root / "liar.fmu", [("data.bin", os.urandom(5000))])
    _patch_declared_size(fmu, 100)  # the header lies: 100 bytes declared, 5000 stored
    with pytest.raises(FMUArchiveError, match=r"'data\.bin' cannot be extracted"):
        safe_extract(fmu, dest)
    assert not (dest / "data.bin").exists()  # the partial file is removed


def test_too_many_members_are_refused(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    fmu = _zip(root / "many.fmu", [(f"f{i}", b"") for i in range(5)])
    with pytest.raises(FMUArchiveError, match="5 members"):
        safe_extract(fmu, dest, max_members=4)


def test_existing_symlink_in_dest_cannot_redirect_a_write(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    outside = root / "outside"
    outside.mkdir()
    dest.mkdir()
    (dest / "resources").symlink_to(outside, target_is_directory=True)
    fmu = _zip(root / "redirect.fmu", [("resources/evil.txt", b"pwned")])
    with pytest.raises(FMUArchiveError, match=r"'resources/evil\.txt' resolves outside"):
        safe_extract(fmu, dest)
    assert list(outside.iterdir()) == []


def test_normal_archive_extracts(sandbox) -> None:  # type: ignore[no-untyped-def]
    root, dest = sandbox
    lib = os.urandom(4096)
    fmu = _zip(
        root / "good.fmu",
        [
            ("modelDescription.xml", MD),
            ("binaries/", b""),
            ("binaries/linux64/model.so", lib),
            ("resources/data/table.csv", b"t,y\n0,1\n"),
            ("./documentation/index.html", b"<html/>"),
        ],
    )
    before = set(_listing(root))
    out = safe_extract(fmu, dest)
    assert out == dest.resolve()
    assert (dest / "modelDescription.xml").read_bytes() == MD
    assert (dest / "binaries" / "linux64" / "model.so").read_bytes() == lib
    assert (dest / "resources" / "data" / "table.csv").read_text() == "t,y\n0,1\n"
    assert (dest / "documentation" / "index.html").is_file()
    new = set(_listing(root)) - before
    assert new and all(n.startswith(str(Path("a", "b", "dest"))) for n in new)
    assert check_archive(fmu)[0] == "modelDescription.xml"


def test_not_a_zip_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.fmu"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(FMUArchiveError, match="expected a ZIP archive"):
        safe_extract(junk, tmp_path / "out")
    with pytest.raises(FMUArchiveError, match="no such FMU file"):
        safe_extract(tmp_path / "missing.fmu", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sha256_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one read chunk
    path = tmp_path / "blob.fmu"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


_PARTS = st.sampled_from(["a", "b.txt", ".", "..", "", "C:", "c:x", "\\", "..\\", " ", "~", "\x00", "résumé"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_PARTS, min_size=1, max_size=6), st.booleans())
def test_fuzzed_member_names_never_escape(parts: list[str], leading_slash: bool) -> None:
    name = ("/" if leading_slash else "") + "/".join(parts)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dest = root / "a" / "b" / "dest"
        dest.parent.mkdir(parents=True)
        fmu = root / "fuzz.fmu"
        try:
            _zip(fmu, [(zipfile.ZipInfo(name), b"x")])
        except (ValueError, OSError):
            return  # zipfile itself cannot store this name
        try:
            safe_extract(fmu, dest)
        except FMUArchiveError as exc:
            assert "refused" in str(exc) or "cannot" in str(exc)
        outside = [p for p in _listing(root) if not p.startswith(str(Path("a", "b", "dest"))) and p != "fuzz.fmu"]
        assert outside == ["a", str(Path("a", "b"))], (name, outside)

"""Compile the bundled C test models into FMI 2.0 / 3.0 ``.fmu`` archives, cached on disk.

The models live in ``phystwin/fmu/models/<name>/`` as one C file per FMI version plus a
``modelDescription.xml`` template; a shared FMI 2.0 / 3.0 implementation sits in ``models/common``.
The FMI headers are the ones shipped inside fmpy (``fmpy/c-code``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from phystwin.errors import PhystwinError

__all__ = ["FmuBuildError", "build_fmu", "bundled_models", "default_cache_dir"]

_MODELS_DIR = Path(__file__).resolve().parent / "models"
_COMMON_DIR = _MODELS_DIR / "common"

# per FMI version: (C file suffix, model description template, binaries platform folder)
_VARIANTS: dict[str, tuple[str, str, str]] = {
    "2.0": ("", "modelDescription.xml", "linux64"),
    "3.0": ("_fmi3", "modelDescription3.xml", "x86_64-linux"),
}

_GCC_FLAGS = ("-shared", "-fPIC", "-O2", "-std=c99")


class FmuBuildError(PhystwinError, RuntimeError):
    """Raised when an FMU cannot be built (no compiler, compile error, unknown model or FMI version)."""


def bundled_models() -> tuple[str, ...]:
    """Names of the bundled C models.

    Returns
    -------
    tuple of str
        Sorted model names accepted by :func:`build_fmu`.
    """
    return tuple(sorted(p.name for p in _MODELS_DIR.iterdir() if p.is_dir() and (p / f"{p.name}.c").is_file()))


def default_cache_dir() -> Path:
    """Directory that holds built FMUs when no ``cache_dir`` is passed.

    Returns
    -------
    Path
        ``$PHYSTWIN_FMU_CACHE`` if set, else ``~/.cache/phystwin/fmu``.
    """
    env = os.environ.get("PHYSTWIN_FMU_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "phystwin" / "fmu"


def _fmi_header_dir() -> Path:
    import fmpy  # only to locate the FMI headers it ships

    return Path(fmpy.__file__).resolve().parent / "c-code"


@functools.cache
def _gcc_version(gcc: str) -> str:
    proc = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise FmuBuildError(f"'{gcc} --version' failed with exit code {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout.splitlines()[0] if proc.stdout else ""


def _find_gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise FmuBuildError(
            "gcc was not found on PATH; install a C compiler (e.g. 'apt-get install gcc') to build FMUs"
        )
    return gcc


def _source_files(model_dir: Path, c_file: Path) -> list[Path]:
    """C file first, then every header it may include (model folder and common folder), in a stable order."""
    headers = sorted(model_dir.glob("*.h")) + sorted(_COMMON_DIR.glob("*.h"))
    return [c_file, *headers]


def _cache_key(sources: list[Path], xml_template: str, gcc_version: str, fmi_version: str, header_dir: Path) -> str:
    digest = hashlib.sha256()
    for part in (fmi_version, gcc_version, " ".join(_GCC_FLAGS), xml_template):
        digest.update(part.encode())
        digest.update(b"\0")
    # the FMI headers are part of the input too: a different fmpy could ship different ones
    for path in [*sources, *sorted(header_dir.glob("fmi*.h"))]:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _guid(key: str) -> str:
    return "{" + f"{key[0:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:32]}" + "}"


def build_fmu(name: str, fmi_version: str = "2.0", cache_dir: Path | None = None) -> Path:
    """Build one bundled model into an ``.fmu`` archive, reusing a cached build when the inputs are unchanged.

    The archive holds ``modelDescription.xml``, ``binaries/<platform>/<name>.so`` (``linux64`` for FMI 2.0,
    ``x86_64-linux`` for FMI 3.0) and ``sources/`` with the C file and headers. Every FMU supports both
    ModelExchange and CoSimulation.

    Parameters
    ----------
    name : str
        Model name, one of :func:`bundled_models`.
    fmi_version : str, optional
        ``"2.0"`` (all models) or ``"3.0"`` (models with an FMI 3.0 variant, e.g. ``thermal_rc``).
    cache_dir : Path, optional
        Where built FMUs are kept; defaults to :func:`default_cache_dir`.

    Returns
    -------
    Path
        Path of the ``.fmu`` file. Its name contains a SHA-256 prefix of the C sources, model description,
        gcc version and FMI version, so a changed input never returns a stale binary.

    Raises
    ------
    FmuBuildError
        Unknown model or FMI version, gcc missing, or a compile error (the message carries gcc's stderr).
    """
    known = bundled_models()
    if name not in known:
        raise FmuBuildError(f"unknown model {name!r}; bundled models are: {', '.join(known)}")
    if fmi_version not in _VARIANTS:
        raise FmuBuildError(f"unsupported FMI version {fmi_version!r}; choose one of {', '.join(_VARIANTS)}")
    suffix, xml_name, platform = _VARIANTS[fmi_version]
    model_dir = _MODELS_DIR / name
    c_file = model_dir / f"{name}{suffix}.c"
    xml_file = model_dir / xml_name
    if not c_file.is_file() or not xml_file.is_file():
        with_variant = [m for m in known if (_MODELS_DIR / m / f"{m}{suffix}.c").is_file()]
        raise FmuBuildError(
            f"model {name!r} has no FMI {fmi_version} variant; models with one: {', '.join(with_variant) or 'none'}"
        )

    gcc = _find_gcc()
    header_dir = _fmi_header_dir()
    sources = _source_files(model_dir, c_file)
    xml_template = xml_file.read_text(encoding="utf-8")
    key = _cache_key(sources, xml_template, _gcc_version(gcc), fmi_version, header_dir)

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"{name}-fmi{fmi_version.replace('.', '')}-{key[:16]}.fmu"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)

    guid = _guid(key)
    # the build happens in a private temporary folder next to the target and is moved in with one atomic
    # os.replace, so parallel test processes building the same model never see a half-written archive
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}-") as tmp:
        tmp_dir = Path(tmp)
        binary = tmp_dir / f"{name}.so"
        cmd = [
            gcc,
            *_GCC_FLAGS,
            f"-I{header_dir}",
            f"-I{_COMMON_DIR}",
            f"-I{model_dir}",
            f'-DMODEL_GUID="{guid}"',
            str(c_file),
            "-o",
            str(binary),
            "-lm",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if proc.returncode != 0:
            raise FmuBuildError(f"gcc failed to compile {c_file} (exit code {proc.returncode}):\n{proc.stderr.strip()}")
        archive = tmp_dir / target.name
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("modelDescription.xml", xml_template.replace("{{GUID}}", guid))
            zf.write(binary, f"binaries/{platform}/{name}.so")
            for src in sources:
                zf.write(src, f"sources/{src.name}")
        os.replace(archive, target)
    return target

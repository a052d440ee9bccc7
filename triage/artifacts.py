"""Saving and loading models as data: ``model.json`` and ``arrays/*.npy`` plus a ``manifest.json`` that vouches
for each file.

Nothing in a model directory is code. JSON is parsed, arrays are read with ``allow_pickle=False`` (an object
array is refused), and every file is read only after its sha256 matched the manifest, through the same open file
that was hashed. Large arrays are memory-mapped read-only: a process touches only the rows its letters use.
"""
from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError, ModelIntegrityError, ModelNotFoundError

CONFIG_FILE = "model.json"
ARRAYS_DIR = "arrays"
MANIFEST_FILE = "manifest.json"
#: Bumped when the directory's layout changes; an older or newer format is refused.
FORMAT_VERSION = 2
#: Arrays of at least this many bytes are memory-mapped instead of read whole.
MMAP_FROM_BYTES = 1 << 20
_TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "rjieba", "opencc")
#: Libraries whose version changes what a saved model computes (segmentation, numerics).
_DRIFT_LIBRARIES = ("numpy", "rjieba", "opencc")
_TRAIN_HINT = "Train one with `triage train` (default model) or `triage train --data FILE --out DIR`."


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def library_versions(libraries: tuple[str, ...] = _TRACKED_LIBRARIES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in (*libraries, "triage"):
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "dev" if lib == "triage" else "absent"
    return versions


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def combined_sha256(files: dict[str, dict[str, Any]]) -> str:
    """One sha256 for a model: over each file's name and sha256, in name order."""
    listing = "".join(f"{name} {files[name]['sha256']}\n" for name in sorted(files))
    return hashlib.sha256(listing.encode()).hexdigest()


def save(model: Any, directory: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``model`` (anything with ``config()`` and ``arrays()``, i.e. a :class:`~triage.predictor.Predictor`)
    and its manifest into ``directory``; return the manifest path.

    Everything is written into a new sibling directory, which then takes the place of ``directory``
    (:func:`replace_dir`), so a crash leaves the old model or the new one, never a mixture.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        files = {CONFIG_FILE: _write(tmp / CONFIG_FILE, _json_bytes(model.config()))}
        (tmp / ARRAYS_DIR).mkdir()
        for name, array in model.arrays().items():
            array = np.ascontiguousarray(array)
            if array.dtype.hasobject:
                raise TypeError(f"array {name!r} holds Python objects; a model file must be plain data")
            buf = io.BytesIO()
            np.save(buf, array, allow_pickle=False)
            files[f"{ARRAYS_DIR}/{name}.npy"] = _write(tmp / ARRAYS_DIR / f"{name}.npy", buf.getvalue())
        full = {
            "format_version": FORMAT_VERSION,
            "name": directory.name,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_sha": _git_sha(),
            "versions": library_versions(),
            **manifest,
            "artifact": {"format": "json+npy", "sha256": combined_sha256(files),
                         "bytes": sum(f["bytes"] for f in files.values()), "files": files},
        }
        _write(tmp / MANIFEST_FILE, _json_bytes(full))
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700: a service running as another user must read it
        old = replace_dir(tmp, directory)
        if old is not None and old != tmp:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # after an exchange, tmp holds the replaced model
    return directory / MANIFEST_FILE


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1, default=str) + "\n").encode("utf-8")


def _write(path: Path, data: bytes) -> dict[str, Any]:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o644)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def replace_dir(new: Path, target: Path) -> Path | None:
    """Put the directory ``new`` where ``target`` is; return where ``target``'s old contents are now (``None`` when
    there were none), for the caller to keep or remove.

    Readers see the old directory or the new one, never a mixture: with ``renameat2(RENAME_EXCHANGE)`` (Linux) the
    two swap in one step and ``target`` never stops existing; elsewhere it is missing between two renames.
    """
    if not target.exists():
        os.replace(new, target)
        old = None
    elif _exchange(new, target):
        old = new
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
        try:
            os.replace(new, target)
        except OSError:
            os.replace(old, target)
            raise
    _fsync_dir(target.parent)
    return old


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is not
    available, so the caller falls back to two renames."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Read and check a model directory's manifest (without touching the model files)."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    try:
        if not directory.is_dir():
            raise ModelNotFoundError(f"No model directory at {directory}. {_TRAIN_HINT}")
        if not path.exists():
            raise ModelIntegrityError(
                f"{path} is missing, so the model in {directory} cannot be verified and will not be loaded. "
                f"Retrain it: {_TRAIN_HINT}"
            )
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ModelError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelIntegrityError(f"{path} is not valid JSON ({e}); the model will not be loaded. Retrain it.") from None
    except OSError as e:
        raise ModelError(f"Cannot read {path}: {e.strerror or e}. Check the path and its permissions.") from None
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(f"{path} is not a manifest; the model will not be loaded. Retrain it.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelIntegrityError(
            f"Model in {directory} has format version {manifest.get('format_version')!r}; this triage reads "
            f"version {FORMAT_VERSION}. Retrain it with this version: {_TRAIN_HINT}"
        )
    artifact = manifest.get("artifact")
    files = artifact.get("files") if isinstance(artifact, dict) else None
    if (not isinstance(files, dict) or CONFIG_FILE not in files
            or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in files.values())):
        raise ModelIntegrityError(f"{path} has no valid 'artifact' entry; the model will not be loaded. Retrain it.")
    if artifact.get("sha256") != combined_sha256(files):
        raise ModelIntegrityError(f"{path} was edited: its file list does not match its sha256. Retrain the model.")
    return manifest


def load(directory: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    """Read a model directory, verifying each file against the manifest; return ``(config, arrays, manifest)``.

    A model replaced while it is read (``triage promote`` swaps directories) fails a checksum against the manifest
    read first; the load then starts over once with the new manifest instead of failing.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        return _load_files(directory, manifest)
    except ModelIntegrityError:
        again = read_manifest(directory)
        if again == manifest:
            raise
        return _load_files(directory, again)


def _load_files(directory: Path, manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    config: Any = None
    arrays: dict[str, np.ndarray] = {}
    for name, entry in manifest["artifact"]["files"].items():
        path = _inside(directory, name)
        if name == CONFIG_FILE:
            config = _parse_json(path, _verified_bytes(path, entry, directory))
        elif name.startswith(f"{ARRAYS_DIR}/") and name.endswith(".npy"):
            arrays[name[len(ARRAYS_DIR) + 1 : -4]] = _read_array(path, entry, directory)
        else:
            raise ModelIntegrityError(
                f"The manifest in {directory} lists {name!r}, which is not a model file; refusing to load. Retrain it.")
    _warn_on_drift(manifest.get("versions", {}), directory)
    return config, arrays, manifest


def _inside(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.resolve().is_relative_to(directory.resolve()):
        raise ModelIntegrityError(f"The manifest in {directory} points outside its directory; refusing to load.")
    return path


def _open(path: Path):
    try:
        if not path.is_file():
            raise ModelNotFoundError(f"{path} is missing or not a file. {_TRAIN_HINT}")
        return open(path, "rb")
    except ModelError:
        raise
    except OSError as e:
        raise ModelError(f"Cannot read {path}: {e.strerror or e}. Check the path and its permissions.") from None


def _mismatch(path: Path, digest: str, entry: dict, directory: Path) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"{path} does not match the sha256 in {directory / MANIFEST_FILE} (file {digest[:12]}…, manifest "
        f"{str(entry.get('sha256'))[:12]}…). It was changed or damaged after training and will not be loaded. "
        f"Restore the file or retrain: {_TRAIN_HINT}"
    )


def _verified_bytes(path: Path, entry: dict, directory: Path) -> bytes:
    with _open(path) as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise _mismatch(path, digest, entry, directory)
    return data


def _parse_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelIntegrityError(f"{path} is not valid JSON ({e}); retrain the model.") from None


def _read_array(path: Path, entry: dict, directory: Path) -> np.ndarray:
    """One verified ``.npy`` file: read whole when small, else memory-mapped read-only from the hashed file."""
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size < MMAP_FROM_BYTES:
            data = f.read()
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry["sha256"]:
                raise _mismatch(path, digest, entry, directory)
            try:
                return np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as e:
                raise ModelIntegrityError(f"{path} is not a plain array ({e}); retrain the model.") from None
        h = hashlib.sha256()
        while block := f.read(1 << 20):
            h.update(block)
        if h.hexdigest() != entry["sha256"]:
            raise _mismatch(path, h.hexdigest(), entry, directory)
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
        except ValueError as e:
            raise ModelIntegrityError(f"{path} is not a .npy array ({e}); retrain the model.") from None
        if dtype.hasobject:
            raise ModelIntegrityError(f"{path} holds Python objects, which a model file may not; retrain the model.")
        mapped = np.memmap(f, dtype=dtype, mode="r", offset=f.tell(), shape=shape, order="F" if fortran else "C")
        return mapped.view(np.ndarray)


def _warn_on_drift(saved: dict[str, str], directory: Path) -> None:
    now = library_versions(_DRIFT_LIBRARIES)
    drift = {k: (v, now.get(k)) for k, v in saved.items() if k in _DRIFT_LIBRARIES and now.get(k) != v}
    if drift:
        details = ", ".join(f"{k} {old} → {new}" for k, (old, new) in drift.items())
        warnings.warn(
            f"Model {directory.name} was trained with other library versions ({details}) and may not be 100% "
            "compatible; retrain it to be sure.",
            UserWarning,
            stacklevel=3,
        )

"""Saving and loading models: ``model.joblib`` plus a ``manifest.json`` that vouches for it.

A joblib file is a pickle, so it is code: :func:`load` unpickles only a file whose sha256 matches the manifest
written beside it at training time.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib

from .errors import ModelError, ModelIntegrityError, ModelNotFoundError

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
#: Bumped when the saved object's layout changes; an older or newer format is refused.
FORMAT_VERSION = 1
_TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "rjieba", "opencc")
_TRAIN_HINT = "Train one with `triage train` (default model) or `triage train --data FILE --out DIR`."


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in _TRACKED_LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "absent"
    try:
        versions["triage"] = metadata.version("triage")
    except metadata.PackageNotFoundError:
        versions["triage"] = "dev"
    return versions


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def save(model: Any, directory: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``model`` and its manifest into ``directory`` (created if needed); return the manifest path.

    Both files are written under temporary names and renamed, so a crash never leaves a half-written model
    that matches its manifest.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_model = tempfile.mkstemp(prefix=".model-", dir=directory)
    os.close(fd)
    try:
        joblib.dump(model, tmp_model, compress=3)
        os.chmod(tmp_model, 0o644)  # mkstemp makes it 0600: a service running as another user must read it
        full = {
            "format_version": FORMAT_VERSION,
            "name": directory.name,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_sha": _git_sha(),
            "versions": library_versions(),
            **manifest,
            "artifact": {"file": MODEL_FILE, "sha256": sha256_file(tmp_model), "bytes": os.path.getsize(tmp_model)},
        }
        tmp_manifest = directory / (MANIFEST_FILE + ".tmp")
        tmp_manifest.write_text(json.dumps(full, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp_model, directory / MODEL_FILE)
        os.replace(tmp_manifest, directory / MANIFEST_FILE)
    finally:
        if os.path.exists(tmp_model):
            os.unlink(tmp_model)
    return directory / MANIFEST_FILE


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Read and check a model directory's manifest (without touching the model file)."""
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
    artifact = manifest.get("artifact") if isinstance(manifest, dict) else None
    if not isinstance(artifact, dict) or not isinstance(artifact.get("file", MODEL_FILE), str):
        raise ModelIntegrityError(f"{path} has no valid 'artifact' entry; the model will not be loaded. Retrain it.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelIntegrityError(
            f"Model in {directory} has format version {manifest.get('format_version')!r}; this triage reads "
            f"version {FORMAT_VERSION}. Retrain it with this version: {_TRAIN_HINT}"
        )
    return manifest


def load(directory: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model after checking its sha256 against the manifest; return ``(model, manifest)``."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    path = directory / manifest["artifact"].get("file", MODEL_FILE)
    if path.parent.resolve() != directory.resolve():
        raise ModelIntegrityError(f"The manifest in {directory} points outside its directory; refusing to load.")
    try:
        if not path.is_file():
            raise ModelNotFoundError(f"{path} is missing or not a file. {_TRAIN_HINT}")
        digest = sha256_file(path)
    except ModelError:
        raise
    except OSError as e:
        raise ModelError(f"Cannot read {path}: {e.strerror or e}. Check the path and its permissions.") from None
    if digest != manifest["artifact"].get("sha256"):
        raise ModelIntegrityError(
            f"{path} does not match the sha256 in {directory / MANIFEST_FILE} (file {digest[:12]}…, manifest "
            f"{str(manifest['artifact'].get('sha256'))[:12]}…). It was changed or damaged after training and will "
            f"not be loaded. Restore the file or retrain: {_TRAIN_HINT}"
        )
    try:
        model = joblib.load(path)
    except Exception as e:  # a verified file that fails to unpickle: wrong library versions, most likely
        raise ModelError(
            f"{path} passed its checksum but could not be loaded ({type(e).__name__}: {e}). It was probably made "
            f"with other library versions ({manifest.get('versions')}); retrain it here."
        ) from None
    _warn_on_drift(manifest.get("versions", {}), directory)
    return model, manifest


def _warn_on_drift(saved: dict[str, str], directory: Path) -> None:
    now = library_versions()
    drift = {k: (v, now.get(k)) for k, v in saved.items() if k in ("scikit-learn", "numpy", "rjieba") and now.get(k) != v}
    if drift:
        details = ", ".join(f"{k} {old} → {new}" for k, (old, new) in drift.items())
        warnings.warn(
            f"Model {directory.name} was trained with other library versions ({details}) and may not be 100% "
            "compatible; retrain it to be sure.",
            UserWarning,
            stacklevel=3,
        )

"""Model faults: a damaged, tampered, wrong-version or unreadable model is refused with one clear line.

Each fault is injected into a copy of the session's tiny model and driven through ``triage.cli.main`` (exit code,
stderr, no traceback) and ``triage.load_model`` (the error class). Unpickling is watched: nothing on the load path
may unpickle, and NumPy must read arrays with ``allow_pickle=False``.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from triage import load_model
from triage.artifacts import (
    CONFIG_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    combined_sha256,
    sha256_file,
)
from triage.cli import main
from triage.errors import ModelError, ModelIntegrityError, ModelNotFoundError

TEXT = "东坝派出所户籍窗口下午三点就没人了"
#: The weights of both heads: the largest file of a model directory.
WEIGHTS = "arrays/text_weights.npy"


@pytest.fixture
def model_copy(trained_dir, tmp_path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(trained_dir, dst)
    return dst


@pytest.fixture
def unpickled(monkeypatch) -> list[str]:
    """Every array NumPy was asked to read with pickles allowed (none may be), and a trap on pickle itself."""
    calls: list[str] = []
    real = np.load

    def spy(file, *args, **kwargs):
        if kwargs.get("allow_pickle"):
            calls.append(str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called on the load path"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called on the load path"))
    return calls


def _manifest(d: Path) -> dict:
    return json.loads((d / MANIFEST_FILE).read_text(encoding="utf-8"))


def _write_manifest(d: Path, m: dict) -> None:
    (d / MANIFEST_FILE).write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")


def _vouch_for(d: Path, name: str) -> None:
    """Make the manifest agree with the file ``name`` as it is now (what an attacker who can write it would do)."""
    m = _manifest(d)
    files = m["artifact"]["files"]
    files[name] = {"sha256": sha256_file(d / name), "bytes": (d / name).stat().st_size}
    m["artifact"]["sha256"] = combined_sha256(files)
    _write_manifest(d, m)


# -- the faults -------------------------------------------------------------------------------------------------
def truncate_half(d: Path) -> None:
    p = d / WEIGHTS
    os.truncate(p, p.stat().st_size // 2)


def truncate_empty(d: Path) -> None:
    os.truncate(d / WEIGHTS, 0)


def flip_one_byte(d: Path) -> None:
    p = d / WEIGHTS
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))


def flip_one_byte_of_the_config(d: Path) -> None:
    p = d / CONFIG_FILE
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))


def append_bytes(d: Path) -> None:
    with open(d / WEIGHTS, "ab") as f:
        f.write(b"cos\nsystem\n(S'echo pwned'\ntR.")  # a pickle payload tacked on the end


def replace_with_malicious_pickle(d: Path) -> None:
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    (d / WEIGHTS).write_bytes(pickle.dumps(Boom()))


def model_file_missing(d: Path) -> None:
    (d / WEIGHTS).unlink()


def config_missing(d: Path) -> None:
    (d / CONFIG_FILE).unlink()


def manifest_missing(d: Path) -> None:
    (d / MANIFEST_FILE).unlink()


def manifest_hash_edited(d: Path) -> None:
    m = _manifest(d)
    m["artifact"]["sha256"] = "0" * 64
    _write_manifest(d, m)


def manifest_file_hash_edited(d: Path) -> None:
    m = _manifest(d)
    m["artifact"]["files"][WEIGHTS]["sha256"] = "0" * 64
    m["artifact"]["sha256"] = combined_sha256(m["artifact"]["files"])
    _write_manifest(d, m)


def manifest_hash_removed(d: Path) -> None:
    m = _manifest(d)
    del m["artifact"]["sha256"]
    _write_manifest(d, m)


def manifest_hash_uppercased(d: Path) -> None:
    m = _manifest(d)
    m["artifact"]["sha256"] = m["artifact"]["sha256"].upper()
    _write_manifest(d, m)


def manifest_artifact_removed(d: Path) -> None:
    m = _manifest(d)
    del m["artifact"]
    _write_manifest(d, m)


def manifest_points_outside(d: Path) -> None:
    shutil.copy(d / WEIGHTS, d.parent / "elsewhere.npy")
    m = _manifest(d)
    files = m["artifact"]["files"]
    files["arrays/../../elsewhere.npy"] = files.pop(WEIGHTS)
    m["artifact"]["sha256"] = combined_sha256(files)
    _write_manifest(d, m)


def manifest_points_absolute(d: Path) -> None:
    m = _manifest(d)
    files = m["artifact"]["files"]
    files[str((d / WEIGHTS).resolve())] = files.pop(WEIGHTS)
    m["artifact"]["sha256"] = combined_sha256(files)
    _write_manifest(d, m)


def manifest_lists_a_script(d: Path) -> None:
    (d / "run.py").write_text("import os; os.system('echo pwned')\n")
    _vouch_for(d, "run.py")


def manifest_file_entry_is_null(d: Path) -> None:
    m = _manifest(d)
    m["artifact"]["files"][WEIGHTS] = None
    _write_manifest(d, m)


def manifest_file_entry_is_number(d: Path) -> None:
    m = _manifest(d)
    m["artifact"]["files"][WEIGHTS] = 5
    _write_manifest(d, m)


def format_version_newer(d: Path) -> None:
    m = _manifest(d)
    m["format_version"] = FORMAT_VERSION + 1
    _write_manifest(d, m)


def format_version_missing(d: Path) -> None:
    m = _manifest(d)
    del m["format_version"]
    _write_manifest(d, m)


def format_version_string(d: Path) -> None:
    m = _manifest(d)
    m["format_version"] = str(FORMAT_VERSION)
    _write_manifest(d, m)


def manifest_not_json(d: Path) -> None:
    (d / MANIFEST_FILE).write_text("{not json", encoding="utf-8")


def manifest_empty(d: Path) -> None:
    (d / MANIFEST_FILE).write_bytes(b"")


def manifest_binary(d: Path) -> None:
    (d / MANIFEST_FILE).write_bytes(b"\xff\xfe\x00\x81garbage")


def manifest_is_a_list(d: Path) -> None:
    (d / MANIFEST_FILE).write_text("[1, 2, 3]", encoding="utf-8")


def manifest_is_a_directory(d: Path) -> None:
    (d / MANIFEST_FILE).unlink()
    (d / MANIFEST_FILE).mkdir()


def model_file_is_a_directory(d: Path) -> None:
    (d / WEIGHTS).unlink()
    (d / WEIGHTS).mkdir()


def weights_of_the_wrong_shape(d: Path) -> None:
    np.save(d / WEIGHTS, np.zeros((3, 2)), allow_pickle=False)
    _vouch_for(d, WEIGHTS)


def config_not_json(d: Path) -> None:
    (d / CONFIG_FILE).write_text("{not json", encoding="utf-8")
    _vouch_for(d, CONFIG_FILE)


def config_missing_a_part(d: Path) -> None:
    config = json.loads((d / CONFIG_FILE).read_text(encoding="utf-8"))
    del config["registry"]
    (d / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
    _vouch_for(d, CONFIG_FILE)


FAULTS = [
    truncate_half, truncate_empty, flip_one_byte, flip_one_byte_of_the_config, append_bytes,
    replace_with_malicious_pickle, model_file_missing, config_missing, manifest_missing, manifest_hash_edited,
    manifest_file_hash_edited, manifest_hash_removed, manifest_hash_uppercased, manifest_artifact_removed,
    manifest_points_outside, manifest_points_absolute, manifest_lists_a_script, manifest_file_entry_is_null,
    manifest_file_entry_is_number, format_version_newer, format_version_missing, format_version_string,
    manifest_not_json, manifest_empty, manifest_binary, manifest_is_a_list, manifest_is_a_directory,
    model_file_is_a_directory, weights_of_the_wrong_shape, config_not_json, config_missing_a_part,
]
#: Found by this file and fixed: a null/number artifact 'file' (TypeError), a manifest or model file that is a
#: directory (IsADirectoryError), both escaping as tracebacks.


def _params(faults):
    return [pytest.param(f, id=f.__name__) for f in faults]


def assert_one_clear_line(rc: int, err: str, out: str = "") -> str:
    assert rc != 0
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and len(lines[0]) > 30, lines[0]
    return lines[0]


@pytest.mark.parametrize("fault", _params(FAULTS))
def test_cli_refuses_a_bad_model(fault, model_copy, unpickled, capsys):
    fault(model_copy)
    rc = main(["classify", "--model", str(model_copy), TEXT])
    out, err = capsys.readouterr()
    line = assert_one_clear_line(rc, err, out)
    assert out == ""  # no prediction was printed
    assert str(model_copy) in line or MANIFEST_FILE in line  # it says where
    assert not unpickled, f"unpickled {unpickled} after {fault.__name__}"


@pytest.mark.parametrize("fault", _params(FAULTS))
def test_load_model_raises_a_model_error(fault, model_copy, unpickled):
    fault(model_copy)
    with pytest.raises(ModelError):
        load_model(model_copy)
    assert not unpickled


@pytest.mark.parametrize(
    "fault, error",
    [
        (truncate_half, ModelIntegrityError),
        (flip_one_byte, ModelIntegrityError),
        (replace_with_malicious_pickle, ModelIntegrityError),
        (manifest_missing, ModelIntegrityError),
        (manifest_not_json, ModelIntegrityError),
        (format_version_newer, ModelIntegrityError),
        (model_file_missing, ModelNotFoundError),
        (manifest_lists_a_script, ModelIntegrityError),
        (weights_of_the_wrong_shape, ModelIntegrityError),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_error_class_and_message(fault, error, model_copy):
    fault(model_copy)
    with pytest.raises(error) as info:
        load_model(model_copy)
    message = str(info.value)
    assert "\n" not in message
    assert any(w in message for w in ("retrain", "Retrain", "Restore", "triage train"))


def test_evaluate_and_info_refuse_too(model_copy, tiny_csv, unpickled, capsys):
    flip_one_byte(model_copy)
    rc = main(["evaluate", "--model", str(model_copy), "--data", str(tiny_csv)])
    assert_one_clear_line(rc, capsys.readouterr().err)
    manifest_not_json(model_copy)
    rc = main(["info", "--model", str(model_copy)])
    assert_one_clear_line(rc, capsys.readouterr().err)
    assert not unpickled


@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_no_model_directory(where, tmp_path, capsys, unpickled):
    d = tmp_path / "nowhere"
    if where == "a-file":
        d.write_text("not a directory")
    rc = main(["classify", "--model", str(d), TEXT])
    line = assert_one_clear_line(rc, capsys.readouterr().err)
    assert "triage train" in line
    with pytest.raises(ModelNotFoundError):
        load_model(d)
    assert not unpickled


def test_default_model_dir_from_environment_is_named(model_copy, monkeypatch, capsys):
    """With no --model, the error names the directory that was tried (not ``None``)."""
    flip_one_byte(model_copy)
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(model_copy))
    rc = main(["classify", TEXT])
    line = assert_one_clear_line(rc, capsys.readouterr().err)
    assert str(model_copy) in line


def test_a_verified_config_of_the_wrong_kind_is_refused(model_copy, capsys):
    """A manifest-consistent model.json holding something else than a triage model: refused, directory named."""
    (model_copy / CONFIG_FILE).write_text(json.dumps({"not": "a model"}), encoding="utf-8")
    _vouch_for(model_copy, CONFIG_FILE)
    rc = main(["classify", "--model", str(model_copy), TEXT])
    line = assert_one_clear_line(rc, capsys.readouterr().err)
    assert "format" in line and str(model_copy) in line


def test_wrong_kind_message_names_the_default_directory(model_copy, monkeypatch):
    (model_copy / CONFIG_FILE).write_text(json.dumps({"not": "a model"}), encoding="utf-8")
    _vouch_for(model_copy, CONFIG_FILE)
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(model_copy))
    with pytest.raises(ModelIntegrityError) as info:
        load_model()
    assert "None" not in str(info.value) and str(model_copy) in str(info.value)


# -- unreadable model directory -----------------------------------------------------------------------------
def _deny_inside(monkeypatch, directory: Path, *, stat: bool) -> None:
    """Simulate ``chmod 000`` (as root, chmod does not stop reads): opening, and optionally stat-ing, any path
    inside ``directory`` raises PermissionError, as the kernel does for a directory without r/x."""
    prefix = str(directory) + os.sep
    denied = lambda p: isinstance(p, (str, os.PathLike)) and os.fspath(p).startswith(prefix)  # noqa: E731

    real_open, real_io_open, real_stat = builtins.open, io.open, os.stat

    def fake_open(file, *args, **kwargs):
        if denied(file):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    def fake_io_open(file, *args, **kwargs):
        if denied(file):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_io_open(file, *args, **kwargs)

    def fake_stat(path, *args, **kwargs):
        if denied(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_io_open)
    if stat:
        monkeypatch.setattr(os, "stat", fake_stat)


def test_unreadable_files_in_model_dir(model_copy, monkeypatch, unpickled, capsys):
    """Files that exist but cannot be opened (chmod 000 on the files)."""
    _deny_inside(monkeypatch, model_copy, stat=False)
    rc = main(["classify", "--model", str(model_copy), TEXT])
    line = assert_one_clear_line(rc, capsys.readouterr().err)
    assert "permission denied" in line.lower()
    assert not unpickled


def test_unsearchable_model_dir(model_copy, monkeypatch, unpickled, capsys):
    """``chmod 000`` on the directory: even stat-ing its entries fails."""
    _deny_inside(monkeypatch, model_copy, stat=True)
    rc = main(["classify", "--model", str(model_copy), TEXT])
    line = assert_one_clear_line(rc, capsys.readouterr().err)
    assert "permission denied" in line.lower()
    assert not unpickled


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading "
                    "(the simulated tests above cover this case)")
def test_chmod_000_model_dir(model_copy, capsys, unpickled):
    mode = model_copy.stat().st_mode
    model_copy.chmod(0)
    try:
        rc = main(["classify", "--model", str(model_copy), TEXT])
        assert_one_clear_line(rc, capsys.readouterr().err)
    finally:
        model_copy.chmod(mode)
    assert not unpickled


# -- the console entry point, end to end --------------------------------------------------------------------
def test_process_exit_code_and_stderr(model_copy):
    """The real process: exit status 1, one line on stderr, nothing on stdout."""
    flip_one_byte(model_copy)
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from triage.cli import main; sys.exit(main())",
         "classify", "--model", str(model_copy), TEXT],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    err = "\n".join(line for line in proc.stderr.splitlines() if "Warning" not in line and "check_classification" not in line)
    assert_one_clear_line(proc.returncode, err)


# -- the service ------------------------------------------------------------------------------------------------
def _service_app(model_dir: Path, monkeypatch):
    import service.main as main_mod
    from service import config

    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(model_dir))
    monkeypatch.delenv("TRIAGE_API_KEYS", raising=False)
    config.get_settings.cache_clear()
    try:
        return main_mod.create_app(config.Settings(model_dir=model_dir))
    except TypeError:
        return main_mod.create_app()


@pytest.mark.parametrize("fault", [flip_one_byte, manifest_missing, format_version_newer, manifest_not_json,
                                   replace_with_malicious_pickle], ids=lambda f: f.__name__)
def test_service_not_ready_with_a_bad_model(fault, model_copy, monkeypatch, unpickled):
    from fastapi.testclient import TestClient

    fault(model_copy)
    app = _service_app(model_copy, monkeypatch)
    with TestClient(app, raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        body = json.dumps(ready.json(), ensure_ascii=False)
        assert any(w in body for w in ("sha256", "manifest", "format version", "JSON", "verified")), body
        assert "Traceback" not in body
        # liveness still answers, and classification says why it cannot run
        assert client.get("/healthz").status_code == 200
        r = client.post("/v1/classify", json={"text": TEXT})
        assert r.status_code == 503 and r.json()["code"] == "model_not_loaded"
    assert not unpickled


def test_service_ready_with_a_good_model(model_copy, monkeypatch):
    from fastapi.testclient import TestClient

    app = _service_app(model_copy, monkeypatch)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200

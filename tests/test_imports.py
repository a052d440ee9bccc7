"""Each job imports only what it needs: start-up time and memory are mostly imports.

``classify`` and the service import neither scikit-learn, SciPy nor pandas; ``batch`` imports pandas but not
scikit-learn or SciPy. Each check runs the real job in a fresh interpreter and reads ``sys.modules`` at its end.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy", "pandas", "joblib", "matplotlib", "dask")


def _imported_after(code: str, *args: str) -> set[str]:
    """Top-level packages of :data:`HEAVY` loaded once ``code`` has run in a fresh interpreter."""
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_classify_imports_no_training_stack(trained_dir):
    code = ("import sys\nfrom triage.cli import main\n"
            "assert main(['classify', '--model', sys.argv[1], '--json', '东坝派出所的民警骂人']) == 0")
    assert _imported_after(code, str(trained_dir)) == set()


def test_the_service_imports_no_training_stack(trained_dir):
    code = (
        "import sys\nfrom fastapi.testclient import TestClient\nfrom service.config import Settings\n"
        "from service.main import create_app\n"
        "with TestClient(create_app(Settings(model_dir=sys.argv[1]))) as client:\n"
        "    r = client.post('/v1/classify', json={'text': '东坝派出所的民警骂人'})\n"
        "    assert r.status_code == 200, r.text\n"
        "    assert client.get('/v1/categories').status_code == 200\n"
    )
    assert _imported_after(code, str(trained_dir)) == set()


def test_batch_imports_pandas_but_not_scikit_learn(trained_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text\n东坝派出所的民警骂人\n医保报销四个月没到账\n", encoding="utf-8")
    code = ("import sys\nfrom triage.cli import main\n"
            "assert main(['batch', sys.argv[2], '-o', sys.argv[3], '--model', sys.argv[1]]) == 0")
    assert _imported_after(code, str(trained_dir), str(src), str(tmp_path / "out.csv")) == {"pandas"}


@pytest.mark.parametrize("module", ["triage", "triage.predictor", "triage.artifacts", "triage.features"])
def test_the_inference_modules_import_only_numpy(module):
    assert _imported_after(f"import {module}") == set()

"""The notebooks run top to bottom (nbclient, ipykernel from this interpreter), so they cannot rot."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("name", ["quickstart.ipynb", "evals.ipynb"])
def test_notebook_runs(name: str, demo_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLBOT_DATA_DIR", str(demo_data_dir))
    monkeypatch.setenv("SQLBOT_NOTEBOOK_LIMIT", "24")
    for key in ("SQLBOT_LLM_BASE_URL", "SQLBOT_LLM_MODEL"):
        monkeypatch.delenv(key, raising=False)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), "commit notebooks without outputs"
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=dict(os.environ))
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors

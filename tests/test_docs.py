"""Docs that cannot drift: every setting is documented, and the README's Python example runs."""

import re
import subprocess
import sys
from pathlib import Path

from graph.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(SQLBOT_[A-Z_]+)`", README))
    expected = {f"SQLBOT_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from the README's configuration table"
    assert documented - expected == set(), "the README documents settings that do not exist"


def test_readme_python_example_runs(demo_data_dir: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README, re.S)
    assert code, "the README has a Python example"
    env = {"SQLBOT_DATA_DIR": str(demo_data_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "1 step_start" and lines[-1] == f"{len(lines)} final_complete"

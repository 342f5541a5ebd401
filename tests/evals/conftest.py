from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def registry(demo_data_dir: Path) -> Any:
    from datasources.registry import Registry

    return Registry(demo_data_dir, max_rows=100_000)

"""The Python client's typed calls, checked by mypy: ``client.action(add, a="x")`` is an error.

``tests/typing/client_calls.py`` marks each line mypy must reject with ``# error``; every other
line must pass ``mypy --strict``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is installed with the test extra")

CALLS = Path(__file__).parent / "typing" / "client_calls.py"


def test_mypy_rejects_exactly_the_wrong_calls() -> None:
    expected = {
        number
        for number, line in enumerate(CALLS.read_text().splitlines(), start=1)
        if line.rstrip().endswith("# error")
    }
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(CALLS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reported = {int(n) for n in re.findall(r"client_calls\.py:(\d+): error", result.stdout)}
    assert len(expected) == 5
    assert reported == expected, result.stdout

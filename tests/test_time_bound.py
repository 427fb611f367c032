"""The one time bound ``conftest.py`` puts on every trio test, and ``@pytest.mark.bound``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

TESTS = Path(__file__).resolve().parent

SAMPLE = """
import pytest
import trio
from hypothesis import given, settings, strategies


async def test_hangs(autojump_clock):
    await trio.sleep_forever()


@pytest.mark.bound(100)
async def test_sleeps_a_minute_under_a_longer_bound(autojump_clock):
    await trio.sleep(60)


@pytest.mark.bound(5)
async def test_sleeps_past_a_shorter_bound(autojump_clock):
    await trio.sleep(6)


async def test_its_own_fail_after_is_its_own(autojump_clock):
    with pytest.raises(trio.TooSlowError):
        with trio.fail_after(1):
            await trio.sleep(2)


@pytest.mark.bound(0.2)
@settings(max_examples=2, deadline=None)
@given(strategies.integers())
async def test_every_example_of_a_hypothesis_test(value):
    await trio.sleep_forever()


def test_a_plain_test_is_left_alone():
    pass
"""


@pytest.mark.bound(120)  # real time: it runs pytest
async def test_a_trio_test_that_hangs_fails_at_its_bound_and_a_mark_moves_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    command = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"]
    with trio.fail_after(120):
        result = await trio.run_process(
            command, cwd=tmp_path, capture_stdout=True, capture_stderr=True, check=False
        )
    output = result.stdout.decode()
    assert "3 failed, 3 passed" in output, output
    assert "test_hangs ran past its 30 s bound" in output
    assert "test_sleeps_past_a_shorter_bound ran past its 5 s bound" in output
    assert "test_every_example_of_a_hypothesis_test ran past its 0.2 s bound" in output
    for name in [
        "test_sleeps_a_minute_under_a_longer_bound",
        "test_its_own_fail_after_is_its_own",
        "test_a_plain_test_is_left_alone",
    ]:
        assert f"PASSED test_sample.py::{name}" in output, output

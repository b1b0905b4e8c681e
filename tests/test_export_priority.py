"""The export readers' CPU priority: changes refused with EAGAIN (Linux rate-limits autogroup nice
changes to one per 100 ms on the machine for unprivileged processes) are tried again, a change
given up is reported, and no call waits. The kernel's refusals are injected; nothing is changed
for real (the test process keeps its priority)."""
import errno
import os
import time

import pytest

from services import export_reader
from services.export_reader import NICENESS, Priority


class Changes:
    """Stand-ins for setpriority and the autogroup write that fail as told, then record."""

    def __init__(self, monkeypatch, nice_errors=(), autogroup_errors=()):
        self.nice_errors, self.autogroup_errors = list(nice_errors), list(autogroup_errors)
        self.nice: list[int] = []
        self.autogroup = 0
        monkeypatch.setattr(export_reader.os, "setpriority", self.set_nice)
        monkeypatch.setattr(export_reader, "_set_autogroup_nice", self.set_autogroup)

    def set_nice(self, which, who, value):
        assert (which, who) == (os.PRIO_PROCESS, 0)
        fail(self.nice_errors)
        self.nice.append(value)

    def set_autogroup(self):
        fail(self.autogroup_errors)
        self.autogroup += 1


def fail(errors: list[int]) -> None:
    if errors:
        code = errors.pop(0)
        raise OSError(code, os.strerror(code))  # (ENOENT makes a FileNotFoundError, as open() raises)


def test_eagain_is_tried_again_without_waiting(monkeypatch):
    changes = Changes(monkeypatch, autogroup_errors=[errno.EAGAIN, errno.EAGAIN])
    priority = Priority()
    start = time.monotonic()
    assert priority.lower() is None and list(priority.pending) == ["autogroup nice"]
    assert priority.lower() is None and changes.autogroup_errors == [errno.EAGAIN]  # too soon: not tried
    assert time.monotonic() - start < 0.01  # nothing waited
    for _ in range(2):
        time.sleep(0.03)
        assert priority.lower() is None
    assert priority.pending == {} and changes.autogroup == 1
    assert changes.nice == [min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)]  # made once


def test_eagain_past_the_retry_time_is_given_up_and_reported(monkeypatch):
    monkeypatch.setattr(export_reader, "RETRY_SECONDS", 0.1)
    changes = Changes(monkeypatch, nice_errors=[errno.EAGAIN], autogroup_errors=[errno.EAGAIN] * 1000)
    start = time.monotonic()
    problem = Priority().lower_waiting()
    assert 0.1 <= time.monotonic() - start < 1
    assert problem.startswith("autogroup nice: [Errno 11]")
    assert len(changes.nice) == 1 and changes.autogroup == 0


@pytest.mark.parametrize("code", [errno.EPERM, errno.EACCES])
def test_other_refusals_are_reported_at_once(monkeypatch, code):
    Changes(monkeypatch, autogroup_errors=[code])
    priority = Priority()
    assert priority.lower() == f"autogroup nice: [Errno {code}] {os.strerror(code)}"
    assert priority.pending == {}


def test_no_autogroups_is_nothing_to_lower(monkeypatch):
    changes = Changes(monkeypatch, autogroup_errors=[errno.ENOENT])
    priority = Priority()
    assert priority.lower() is None and priority.pending == {} and len(changes.nice) == 1

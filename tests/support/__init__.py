"""Helpers shared by the test suite: waiting on conditions, uniquely named kernel objects."""

from tests.support.wait import wait_until

__all__ = ["wait_until"]

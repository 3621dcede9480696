"""The fake Entra ID every sign-in test talks to through real msal (``clock`` comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.fakes.entra import FakeEntra


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()

"""Fixtures for provider tests: the loopback OpenAI-compatible server and a clean environment."""

from __future__ import annotations

import pytest

from tests._support.fake_openai import fake_openai

__all__ = ["fake_openai"]


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's endpoint or key."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

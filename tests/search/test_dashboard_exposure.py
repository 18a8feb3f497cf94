"""`dashboard --host`: beyond loopback it warns who can reach it and what they can do; IPv6 works."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from search.ui.dashboard import exposure_warning, is_loopback
from storage import open_storage
from tests.search.dashboard_helpers import get_json, running_dashboard


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_warning(host: str) -> None:
    assert is_loopback(host) and exposure_warning(host, 8080) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "myhost.example"])
def test_any_other_address_gets_a_one_line_warning(host: str) -> None:
    warning = exposure_warning(host, 8080)
    assert warning is not None and "\n" not in warning
    assert "anyone" in warning and "8080" in warning and "change" in warning and "127.0.0.1" in warning


def test_wildcard_host_warns_and_serves(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    open_storage(url)
    seen: list[str] = []
    with running_dashboard(url, host="0.0.0.0", seen=seen) as base:
        assert base.startswith("http://127.0.0.1:")  # opens on this machine
        assert get_json(f"{base}/api/studies")["study_summaries"] == []
    warnings = [line for line in seen if line.startswith("warning:")]
    assert len(warnings) == 1 and "every network interface" in warnings[0] and "anyone" in warnings[0]


def test_ipv6_wildcard_is_accepted(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    open_storage(url)
    seen: list[str] = []
    with running_dashboard(url, host="::", seen=seen) as base:
        assert base.startswith("http://[::1]:")
        with urllib.request.urlopen(f"{base}/api/studies", timeout=30) as response:
            assert response.status == 200
    assert any(line.startswith("warning:") for line in seen)

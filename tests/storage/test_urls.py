"""Storage URLs: one function hides their credentials wherever they are shown; postgresql:// works as given."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import StorageError, open_storage
from storage.engine import check_url, redact
from tests.search.cli_helpers import invoke


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql+psycopg2://fmnist:s3cret@db:5432/fmnist", "postgresql+psycopg2://fmnist:***@db:5432/fmnist"),
        ("postgresql://fmnist@db/fmnist?password=s3cret", "postgresql://fmnist@db/fmnist?password=***"),
        ("sqlite:////tmp/studies.db", "sqlite:////tmp/studies.db"),
        ("not a url://user:s3cret@host", "not a url://user:***@host"),
    ],
)
def test_redact_hides_every_password(url: str, shown: str) -> None:
    assert redact(url) == shown and "s3cret" not in redact(url)


@pytest.mark.parametrize(
    "url", ["foo://user:s3cret@host/db", "postgresql+nodriver://user:s3cret@host/db", "sqlite+x://user:s3cret@/x"]
)
def test_a_bad_url_with_a_password_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        check_url(url)
    assert "s3cret" not in str(caught.value)


def test_bare_postgresql_url_uses_the_installed_driver(postgres_url: str) -> None:
    bare = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    assert check_url(bare) == postgres_url
    import optuna

    optuna.create_study(study_name="s", storage=open_storage(bare))
    result = invoke("status", "--storage", bare)
    assert result.exit_code == 0, result.output
    assert "s" in result.output


def test_start_never_prints_the_password(postgres_url: str, tiny_data_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last line of `start` suggests a `status` command: with the password hidden (trust auth ignores it)."""
    from tests.search.stub_start import use_stub_training

    use_stub_training(monkeypatch)
    with_password = postgres_url.replace("://postgres@", "://postgres:s3cret@")
    assert "s3cret" in with_password, postgres_url
    result = invoke(
        "start",
        "--space",
        "dense",
        "--trials",
        "1",
        "--epochs",
        "1",
        "--storage",
        with_password,
        "--data-dir",
        str(tiny_data_dir()),
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "--storage 'postgresql+psycopg2://postgres:***@" in " ".join(
        result.output.split()
    )  # the console wraps lines


def test_a_folder_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a folder"):
        check_url(f"sqlite:///{tmp_path}", must_exist=True)

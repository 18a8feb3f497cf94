"""The study-wide budget: atomic claims, give-backs, and resets, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from storage.budget import Budget


def test_claims_stop_exactly_at_the_budget(store_url: str) -> None:
    budget = Budget(store_url, "s")
    budget.reset(5, already_used=2)
    assert [budget.claim() for _ in range(5)] == [True, True, True, False, False]
    budget.release()
    assert budget.claim() and not budget.claim()
    assert budget.state() == (5, 5)


def test_concurrent_claims_never_overshoot(store_url: str) -> None:
    Budget(store_url, "s").reset(20, already_used=0)
    budgets = [Budget(store_url, "s") for _ in range(8)]

    def grab(budget: Budget) -> int:
        return sum(budget.claim() for _ in range(10))

    with ThreadPoolExecutor(8) as pool:
        granted = sum(pool.map(grab, budgets))
    assert granted == 20 and budgets[0].state() == (20, 20)


def test_reset_twice_and_unlimited(store_url: str) -> None:
    budget = Budget(store_url, "s")
    budget.reset(3, 0)
    budget.reset(4, 1)  # a restart with a new budget
    assert budget.state() == (4, 1)
    budget.reset(None, 0)
    assert all(budget.claim() for _ in range(50))
    assert Budget(store_url, "never-set").claim()

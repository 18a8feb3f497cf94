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


def test_a_restart_never_drops_claims_whose_trials_do_not_exist_yet(store_url: str) -> None:
    budget = Budget(store_url, "s")
    budget.reset(10, 0)
    assert budget.claim() and budget.claim() and budget.claim()
    budget.reset(10, 1)  # another `start` sees 1 trial; two workers are between claim and trial
    assert budget.state() == (10, 3)


def test_a_resume_without_trials_never_puts_an_old_limit_back(store_url: str) -> None:
    budget = Budget(store_url, "s")
    budget.reset(10, 0)  # `start --trials 10`, a moment after another start read the old limit
    budget.reset(1_000_000, 2, set_limit=False)
    assert budget.state() == (10, 2)


def test_reconcile_drops_only_the_claims_it_saw(store_url: str) -> None:
    budget = Budget(store_url, "s")
    budget.reset(10, 5)
    assert not budget.reconcile(4, 2) and budget.state() == (10, 5)  # a claim came in since: no change
    assert budget.reconcile(5, 2) and budget.state() == (10, 2)


def test_take_tells_a_spent_budget_from_no_limit(store_url: str) -> None:
    budget = Budget(store_url, "s")
    budget.reset(1, 0)
    assert budget.take() is True and budget.take() is False
    assert Budget(store_url, "no-limit").take() is None

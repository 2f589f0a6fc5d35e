"""The lean bounded L-BFGS-B equals `scipy.optimize.minimize` bit for bit (steps at bounds included)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from scipy.optimize import minimize

from siskin.science.lbfgsb import EPS, forward_steps, minimize_bounded, minimize_bounded_many


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """scipy's BLAS threads only slow these tiny problems down on a busy host (the results are the same)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _rows(fun: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], np.ndarray]:
    """The batched form of `fun`: the same scalar call per row (so the same bits by construction)."""
    return lambda points: np.array([fun(p) for p in points])


def _problem(seed: int) -> tuple[Callable[[np.ndarray], float], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5))
    centre = rng.uniform(-4, 4, n)  # often outside the box: the optimum sits on a bound
    scale = rng.uniform(0.1, 10, n)
    coupling = rng.uniform(-1, 1)
    lower = rng.uniform(-3, -0.5, n)
    upper = rng.uniform(0.5, 3, n)

    def fun(x: np.ndarray) -> float:
        d = x - centre
        return float(np.sum(scale * d**2) + coupling * d[0] * d[-1] + 0.1 * np.sum(d**4))

    return fun, rng.uniform(-4, 4, n), lower, upper


@pytest.mark.parametrize("seed", range(40))
def test_equals_scipys_minimize(seed: int) -> None:
    fun, x0, lower, upper = _problem(seed)
    expected = minimize(fun, x0, bounds=list(zip(lower, upper, strict=True))).x
    assert np.array_equal(minimize_bounded(_rows(fun), x0, lower, upper), expected)


def test_rosenbrock_with_the_optimum_outside_the_box() -> None:
    def fun(x: np.ndarray) -> float:
        return float(100.0 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2)

    lower, upper = np.array([-2.0, -2.0]), np.array([0.7, 2.0])
    expected = minimize(fun, np.array([-1.2, 1.0]), bounds=list(zip(lower, upper, strict=True)))
    ours = minimize_bounded(_rows(fun), np.array([-1.2, 1.0]), lower, upper)
    assert np.array_equal(ours, expected.x) and ours[0] == 0.7  # stopped on the upper bound of x0


def test_forward_steps_flip_at_the_upper_bound_as_scipys() -> None:
    from scipy.optimize._numdiff import _adjust_scheme_to_bounds

    x = np.array([2.0, 2.0 - EPS / 2, 1.0, -2.0, 0.0])
    lower, upper = np.full(5, -2.0), np.full(5, 2.0)
    expected, _ = _adjust_scheme_to_bounds(x, np.full(5, EPS), 1, "1-sided", lower, upper)
    assert np.array_equal(forward_steps(x, lower, upper), expected)
    assert list(np.sign(forward_steps(x, lower, upper))) == [-1, -1, 1, 1, 1]


def test_unsupported_bounds_are_refused() -> None:
    losses = _rows(lambda x: float(x @ x))
    with pytest.raises(ValueError, match="finite"):
        minimize_bounded(losses, np.zeros(2), np.array([-np.inf, 0.0]), np.ones(2))
    with pytest.raises(ValueError, match="fixed"):
        minimize_bounded(losses, np.zeros(2), np.zeros(2), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="greater"):
        minimize_bounded(losses, np.zeros(2), np.ones(2), np.zeros(2))


def test_many_problems_in_lockstep_equal_each_alone() -> None:
    """Problems that converge after different numbers of rounds: each row as scipy finds it alone."""
    problems = [_problem(seed) for seed in range(100, 160)]
    problems = [p for p in problems if len(p[1]) == 3][:12]  # the same n (and bounds) for all
    lower, upper = problems[0][2], problems[0][3]
    funs = [p[0] for p in problems]
    x0 = np.array([p[1] for p in problems])

    def losses(which: np.ndarray, points: np.ndarray) -> np.ndarray:
        return np.array([[funs[i](x) for x in rows] for i, rows in zip(which, points, strict=True)])

    ours = minimize_bounded_many(losses, x0, lower, upper)
    for fun, start, row in zip(funs, x0, ours, strict=True):
        expected = minimize(fun, start, bounds=list(zip(lower, upper, strict=True))).x
        assert np.array_equal(row, expected)
    assert len(problems) >= 5

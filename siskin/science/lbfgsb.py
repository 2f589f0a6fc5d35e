"""scipy's `minimize(fun, x0, bounds=...)` (L-BFGS-B, defaults, no `jac`), lean and batched.

The kilonova features must equal the peer's, which fits with `scipy.optimize.minimize` on its defaults,
so the fit must take the same steps bit for bit. scipy spends most of a 3-parameter fit in its
wrappers (`ScalarFunction` copies and compares `x`, `approx_derivative` re-derives its step and bound
handling on every gradient, each loss value is a separate call). This drives the same L-BFGS-B core
(scipy's `_lbfgsb.setulb`, as `_minimize_lbfgsb` does) with the same forward-difference gradient
(absolute step `eps` = 1e-8, flipped where `x + eps` leaves the upper bound, divided by
`(x_i + h_i) - x_i`), but asks the caller for the loss at the point and its `n` shifted copies in one
call, and advances many fits in lockstep, so the loss of every fit that needs one at a round is
evaluated in one numpy call. Pinned scipy (constraints.txt); `tests/science/test_lbfgsb.py` and
`tests/science/test_kilonova.py` check bit-identity against `minimize` itself, which a scipy upgrade
that changed the method would fail.

setulb calls scipy's OpenBLAS on tiny arrays; with more than one OpenBLAS thread (outside Spark, whose
Python workers get `OMP_NUM_THREADS=1`) the threads' hand-offs cost ~10x its CPU. Results are the same.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.optimize import _lbfgsb

F64 = npt.NDArray[np.float64]

# `_minimize_lbfgsb`'s defaults
MAXCOR = 10
FTOL = 2.2204460492503131e-09
GTOL = 1e-5
EPS = 1e-8
MAXFUN = 15000
MAXITER = 15000
MAXLS = 20
_FACTR = FTOL / np.finfo(float).eps
_REL_STEP = float(np.finfo(float).eps ** 0.5)  # approx_derivative's relative step for "2-point"
_FG, _NEW_X = 3, 1  # setulb's task codes: "evaluate f and g at x", "an iteration ended"
_STOP, _MAXFUN_REACHED, _MAXITER_REACHED = 5, 502, 504


def minimize_bounded(losses: Callable[[F64], F64], x0: F64, lower: F64, upper: F64) -> F64:
    """`scipy.optimize.minimize(fun, x0, bounds=list(zip(lower, upper))).x` for finite bounds, where
    `losses(points)` returns `fun` of each row of a (n + 1, n) array with the same bits as `fun`."""
    x = np.asarray(x0, dtype=np.float64).ravel()
    return minimize_bounded_many(lambda _, points: losses(points[0])[None, :], x[None, :], lower, upper)[0]


def minimize_bounded_many(
    losses: Callable[[npt.NDArray[np.intp], F64], F64], x0: F64, lower: F64, upper: F64
) -> F64:
    """`minimize_bounded` of several problems at once (the same bounds): row p of the (P, n) result is
    problem p's, as if fitted alone. The problems advance in lockstep, so the loss is asked for all
    problems that need a value at the same round: `losses(problems, points)` gets the problems' indices
    (k,) and their points (k, n + 1, n), and returns (k, n + 1) values, each with the bits of `fun`."""
    lower = np.array(lower, dtype=np.float64)
    upper = np.array(upper, dtype=np.float64)
    x = np.array(np.asarray(x0, dtype=np.float64), dtype=np.float64, order="C", ndmin=2)
    n_problems, n = x.shape
    if lower.shape != (n,) or upper.shape != (n,):
        raise ValueError("length of x0 != length of bounds")
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ValueError("minimize_bounded needs finite bounds")
    if np.any(lower > upper):
        raise ValueError("LBFGSB - one of the lower bounds is greater than an upper bound.")
    if np.any(lower == upper):
        raise ValueError("minimize_bounded does not handle fixed variables")
    np.clip(x, lower, upper, out=x)
    m = MAXCOR
    nbd = np.full(n, 2, dtype=np.int32)  # bounded below and above
    # per problem, setulb's state (rows of C-contiguous arrays: setulb updates them in place)
    wa = np.zeros((n_problems, 2 * m * n + 5 * n + 11 * m * m + 8 * m), np.float64)
    iwa = np.zeros((n_problems, 3 * n), dtype=np.int32)
    task = np.zeros((n_problems, 2), dtype=np.int32)
    ln_task = np.zeros((n_problems, 2), dtype=np.int32)
    lsave = np.zeros((n_problems, 4), dtype=np.int32)
    isave = np.zeros((n_problems, 44), dtype=np.int32)
    dsave = np.zeros((n_problems, 29), dtype=np.float64)
    # ScalarFunction evaluates f and g at x0 when it is made, and re-evaluates only at a new point;
    # the first setulb call (task START) gets f = 0 and g = 0, as in `_minimize_lbfgsb`.
    everyone = np.arange(n_problems)
    value, gradient = _values_and_gradients(losses, everyone, x, lower, upper)
    evaluated = x.copy()
    nfev = np.full(n_problems, n + 1)
    f = np.zeros(n_problems)
    g = np.zeros((n_problems, n))
    iterations = [0] * n_problems
    active = list(range(n_problems))
    while active:
        waiting, running = [], []
        for p in active:  # one setulb step per problem; setulb's own work is a few microseconds
            _lbfgsb.setulb(
                m, x[p], lower, upper, nbd, f[p], g[p], _FACTR, GTOL,
                wa[p], iwa[p], task[p], lsave[p], isave[p], dsave[p], MAXLS, ln_task[p],
            )  # fmt: skip
            code = task[p, 0]
            if code == _FG:
                waiting.append(p)
            elif code == _NEW_X:
                iterations[p] += 1
                if iterations[p] >= MAXITER:
                    task[p, 0], task[p, 1] = _STOP, _MAXITER_REACHED
                elif nfev[p] > MAXFUN:
                    task[p, 0], task[p, 1] = _STOP, _MAXFUN_REACHED
            else:
                continue  # converged or stopped: x[p] is its result
            running.append(p)
        asked = np.array(waiting, dtype=np.intp)
        which = asked[~np.all(x[asked] == evaluated[asked], axis=1)]  # ScalarFunction's `array_equal`
        if len(which):
            value[which], gradient[which] = _values_and_gradients(losses, which, x[which], lower, upper)
            evaluated[which] = x[which]
            nfev[which] += n + 1
        f[asked] = value[asked]
        g[asked] = gradient[asked]
        active = running
    return x


def forward_steps(x: F64, lower: F64, upper: F64) -> F64:
    """`approx_derivative`'s steps for "2-point" with `abs_step=EPS` and bounds: EPS (or the relative
    step where x + EPS == x), flipped where x + h leaves the bounds and -h fits, else the distance to
    the farther bound (`_adjust_scheme_to_bounds`, one-sided). Elementwise: x may be (P, n)."""
    sign = (x >= 0).astype(float) * 2 - 1
    h = np.where((x + EPS) - x == 0, _REL_STEP * sign * np.maximum(1.0, np.abs(x)), EPS)
    lower_dist, upper_dist = x - lower, upper - x
    shifted = x + h
    violated = (shifted < lower) | (shifted > upper)
    fitting = np.abs(h) <= np.maximum(lower_dist, upper_dist)
    h[violated & fitting] *= -1
    forward = (upper_dist >= lower_dist) & ~fitting
    h[forward] = upper_dist[forward]
    backward = (upper_dist < lower_dist) & ~fitting
    h[backward] = -lower_dist[backward]
    return h


def _values_and_gradients(
    losses: Callable[[npt.NDArray[np.intp], F64], F64],
    problems: npt.NDArray[np.intp],
    x: F64,
    lower: F64,
    upper: F64,
) -> tuple[F64, F64]:
    """Per problem, f(x) and its forward-difference gradient as `approx_derivative` computes it, from
    one call: `(f(x + h_i e_i) - f(x)) / ((x_i + h_i) - x_i)`."""
    k, n = x.shape
    h = forward_steps(x, lower, upper)
    points = np.repeat(x[:, None, :], n + 1, axis=1)
    diagonal = np.arange(n)
    points[:, diagonal + 1, diagonal] = x + h
    values = np.asarray(losses(problems, points), dtype=np.float64)
    if values.shape != (k, n + 1):
        raise ValueError(f"losses returned shape {values.shape} for {k} problems of {n + 1} points")
    return values[:, 0].copy(), (values[:, 1:] - values[:, :1]) / ((x + h) - x)

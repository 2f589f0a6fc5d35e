"""scipy's default `least_squares` (method "trf", no bounds, linear loss, 2-point Jacobian), lean.

The SN Ia features must equal the peer's, which fits with `scipy.optimize.least_squares` defaults, so
the fit must take the same steps bit for bit. scipy spends most of a 3-parameter fit in its wrappers
(`VectorFunction` copies and compares `x` on every call, `approx_derivative` re-derives its settings
on every Jacobian); this runs the same iteration (`scipy.optimize._lsq.trf.trf_no_bounds`) with the
same numerical operations and scipy's own trust-region helpers, without them. `tests/science/
test_snia.py` checks bit-identity against `least_squares` itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.linalg import svd
from scipy.optimize._lsq.common import (
    check_termination,
    evaluate_quadratic,
    solve_lsq_trust_region,
    update_tr_radius,
)

F64 = npt.NDArray[np.float64]
_STEP = float(np.finfo(np.float64).eps ** 0.5)  # scipy's relative step for "2-point"
TOL = 1e-8  # scipy's default ftol, xtol, gtol


def _norm(v: F64) -> float:
    """`numpy.linalg.norm` of a 1-d float vector: sqrt of the dot product."""
    return float(np.sqrt(v.dot(v)))


def forward_differences(fun: Callable[[F64], F64], x: F64, f0: F64) -> F64:
    """The Jacobian scipy's `jac="2-point"` computes, operation for operation: per parameter, step
    `sqrt(eps) * sign(x) * max(1, |x|)` (sign +1 at 0), then `(f(x + h e_i) - f(x)) / ((x_i + h_i) - x_i)`."""
    sign = (x >= 0).astype(float) * 2 - 1
    h = _STEP * sign * np.maximum(1.0, np.abs(x))
    columns = np.empty((x.size, f0.size))
    for i in range(x.size):
        shifted = np.copy(x)
        shifted[i] = x[i] + h[i]
        columns[i] = (fun(shifted) - f0) / ((x[i] + h[i]) - x[i])
    return columns.T


def least_squares_trf(fun: Callable[[F64], F64], x0: F64) -> F64:
    """`scipy.optimize.least_squares(fun, x0).x` (all defaults), computed the same way."""
    x = np.atleast_1d(x0).astype(float)
    if not np.all((x >= -np.inf) & (x <= np.inf)):
        raise ValueError("Initial guess is outside of provided bounds")
    f = np.atleast_1d(fun(x))
    jac = forward_differences(fun, x, f)
    if not np.all(np.isfinite(f)):
        raise ValueError("Residuals are not finite in the initial point.")
    n, m = x.size, f.size
    max_nfev = 100 * n
    nfev = 1
    cost = 0.5 * np.dot(f, f)
    g = jac.T.dot(f)
    delta = _norm(x)  # x_scale 1: scale_inv is 1
    if delta == 0:
        delta = 1.0
    alpha = 0.0
    while True:
        if np.max(np.abs(g)) < TOL or nfev == max_nfev:  # gtol, or out of evaluations
            break
        u, s, vt = svd(jac, full_matrices=False)
        v = vt.T
        uf = u.T.dot(f)
        actual_reduction = -1.0
        status = None
        while actual_reduction <= 0 and nfev < max_nfev:
            step, alpha, _ = solve_lsq_trust_region(n, m, uf, s, v, delta, initial_alpha=alpha)
            predicted_reduction = -evaluate_quadratic(jac, g, step)
            x_new = x + step
            f_new = np.atleast_1d(fun(x_new))
            nfev += 1
            step_norm = _norm(step)
            if not np.all(np.isfinite(f_new)):
                delta = 0.25 * step_norm
                continue
            cost_new = 0.5 * np.dot(f_new, f_new)
            actual_reduction = cost - cost_new
            delta_new, ratio = update_tr_radius(
                delta, actual_reduction, predicted_reduction, step_norm, step_norm > 0.95 * delta
            )
            status = check_termination(actual_reduction, cost, step_norm, _norm(x), ratio, TOL, TOL)
            if status is not None:
                break
            alpha *= delta / delta_new
            delta = delta_new
        if actual_reduction > 0:
            x, f, cost = x_new, f_new, cost_new
            jac = forward_differences(fun, x, f)
            g = jac.T.dot(f)
        if status is not None:
            break
    return x

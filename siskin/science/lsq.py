"""scipy's default `least_squares` (method "trf", no bounds, linear loss, 2-point Jacobian), lean.

The SN Ia features must equal the peer's, which fits with `scipy.optimize.least_squares` defaults, so
the fit must take the same steps bit for bit. scipy spends most of a 3-parameter fit in its wrappers
(`VectorFunction` copies and compares `x` on every call, `approx_derivative` re-derives its settings
on every Jacobian, `svd` re-derives its LAPACK workspace); this runs the same iteration
(`scipy.optimize._lsq.trf.trf_no_bounds`), its trust-region solve and the same LAPACK call with the
same numerical operations, without them. Pinned scipy (constraints.txt); `tests/science/test_snia.py`
checks bit-identity against `least_squares` itself, which a scipy upgrade that changed the method
would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.linalg import LinAlgError
from scipy.linalg.lapack import _compute_lwork, get_lapack_funcs
from scipy.optimize._lsq.common import check_termination, evaluate_quadratic, update_tr_radius

F64 = npt.NDArray[np.float64]
_EPS = np.finfo(float).eps
_STEP = float(_EPS**0.5)  # scipy's relative step for "2-point"
TOL = 1e-8  # scipy's default ftol, xtol, gtol


def _norm(v: F64) -> float:
    """`numpy.linalg.norm` of a 1-d float vector: sqrt of the dot product."""
    return float(np.sqrt(v.dot(v)))


_GESDD: dict[tuple[int, ...], tuple[Any, Any]] = {}  # per shape: LAPACK gesdd and its workspace size


def _svd(a: F64) -> tuple[F64, F64, F64]:
    """`scipy.linalg.svd(a, full_matrices=False)`: the same LAPACK call (gesdd, the same workspace
    size, so the same blocking), without re-deriving them per call."""
    a = np.asarray_chkfinite(a)  # svd's check_finite
    if a.shape not in _GESDD:
        gesdd, gesdd_lwork = get_lapack_funcs(("gesdd", "gesdd_lwork"), (a,), ilp64="preferred")
        lwork = _compute_lwork(gesdd_lwork, a.shape[0], a.shape[1], compute_uv=True, full_matrices=False)
        _GESDD[a.shape] = (gesdd, lwork)
    gesdd, lwork = _GESDD[a.shape]
    u, s, vt, info = gesdd(a, compute_uv=True, lwork=lwork, full_matrices=False, overwrite_a=False)
    if info > 0:
        raise LinAlgError("SVD did not converge")
    if info < 0:
        raise ValueError(
            "A has a NaN entry" if info == -4 else f"illegal value in {-info}th argument of gesdd"
        )
    return u, s, vt


def _trust_region_step(
    n: int, m: int, uf: F64, s: F64, v: F64, delta: float, alpha: float
) -> tuple[F64, float]:
    """`scipy.optimize._lsq.common.solve_lsq_trust_region` (rtol 0.01, 10 iterations), the same
    operations with `numpy.linalg.norm` written out as sqrt(v.v), which is what it computes."""

    def phi_and_derivative(alpha: float) -> tuple[float, float]:
        denom = s**2 + alpha
        p_norm = _norm(suf / denom)
        return p_norm - delta, -np.sum(suf**2 / denom**3) / p_norm

    suf = s * uf
    full_rank = bool(s[-1] > _EPS * m * s[0]) if m >= n else False
    if full_rank:
        p = -v.dot(uf / s)
        if _norm(p) <= delta:
            return p, 0.0
    alpha_upper = _norm(suf) / delta
    if full_rank:
        phi, phi_prime = phi_and_derivative(0.0)
        alpha_lower = -phi / phi_prime
    else:
        alpha_lower = 0.0
    if not full_rank and alpha == 0:
        alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
    for _ in range(10):
        if alpha < alpha_lower or alpha > alpha_upper:
            alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
        phi, phi_prime = phi_and_derivative(alpha)
        if phi < 0:
            alpha_upper = alpha
        ratio = phi / phi_prime
        alpha_lower = max(alpha_lower, alpha - ratio)
        alpha -= (phi + delta) * ratio / delta
        if np.abs(phi) < 0.01 * delta:
            break
    p = -v.dot(suf / (s**2 + alpha))
    p *= delta / _norm(p)
    return p, alpha


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
        u, s, vt = _svd(jac)
        v = vt.T
        uf = u.T.dot(f)
        actual_reduction = -1.0
        status = None
        while actual_reduction <= 0 and nfev < max_nfev:
            step, alpha = _trust_region_step(n, m, uf, s, v, delta, alpha)
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

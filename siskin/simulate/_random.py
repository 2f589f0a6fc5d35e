"""Counter-based random numbers: every value is a pure function of (seed, stream, ids).

A stateful generator would make an object's properties depend on how many objects were drawn before
it; hashing the ids instead makes a light curve evaluable at any epoch, in any order, and keeps the
history of night N identical to what night N - 1 emitted.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: U64) -> U64:
    """splitmix64 finaliser: a fast bijective scramble of 64-bit words."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def hash64(seed: int, stream: int, *ids: npt.ArrayLike) -> U64:
    """64 random bits per element of the broadcast `ids`, for one named `stream`."""
    base = np.uint64((seed * 1_000_003 + stream * 7_919) & 0xFFFFFFFFFFFFFFFF)
    h = _mix(np.asarray(base, dtype=np.uint64))
    for part in ids:
        h = _mix(h ^ np.asarray(part).astype(np.int64).astype(np.uint64))
    return np.atleast_1d(h)


def uniform(seed: int, stream: int, *ids: npt.ArrayLike) -> F64:
    """Uniform floats in [0, 1), one per element of the broadcast `ids`."""
    return (hash64(seed, stream, *ids) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def normal(seed: int, stream: int, *ids: npt.ArrayLike) -> F64:
    """Standard normal floats (Box-Muller on two hashed uniforms)."""
    u1 = uniform(seed, stream, *ids)
    u2 = uniform(seed, stream + 100_000, *ids)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

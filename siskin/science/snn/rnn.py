"""SuperNNova's `VanillaRNN` forward pass in numpy: a (bidirectional) multi-layer LSTM, the mean of the
last layer's outputs over each sequence's valid steps, a linear layer and a softmax.

Runs in float64 and rounds the probabilities to float32 (the precision the peer's torch model gives):
a matrix product's rounding depends on how many rows it holds (BLAS picks its kernels by shape), so in
float32 an alert's score moved by ~1e-7 with the batch around it, and a replay of a night was not
bit-identical to the stream; in float64 that jitter is ~1e-15, far below the float32 rounding. Matches
torch's LSTM (gate order i, f, g, o;
`h = o * tanh(c)`) on packed sequences: the reverse direction of each sequence starts at its own last
step, done here by reversing every sequence within its length, so all alerts run together, one vector
step per time step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RnnWeights:
    """The state dict of a SuperNNova vanilla LSTM model (float32 arrays: the precision torch ran it in)."""

    layers: int
    bidirectional: bool
    tensors: Mapping[str, npt.NDArray[np.float32]]


def _sigmoid(z: F64) -> F64:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def _lstm(x: F64, w_ih: F32, w_hh: F32, b: F32, live: I64) -> F64:
    """One LSTM direction over padded inputs (time, batch, in); outputs (time, batch, hidden).

    Sequences are sorted longest first and `live[t]` of them are still running at step t: only those
    are computed (what torch's packed sequences do); padded steps' outputs stay 0.
    """
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    h = np.zeros((batch, hidden), dtype=np.float64)
    c = np.zeros((batch, hidden), dtype=np.float64)
    out = np.zeros((steps, batch, hidden), dtype=np.float64)
    w_ih_t = np.ascontiguousarray(w_ih.T, dtype=np.float64)
    w_hh_t = np.ascontiguousarray(w_hh.T, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    for t in range(steps):
        n = int(live[t])
        gates = x[t, :n] @ w_ih_t + b + h[:n] @ w_hh_t
        i = _sigmoid(gates[:, :hidden])
        f = _sigmoid(gates[:, hidden : 2 * hidden])
        g = np.tanh(gates[:, 2 * hidden : 3 * hidden])
        o = _sigmoid(gates[:, 3 * hidden :])
        c[:n] = f * c[:n] + i * g
        h[:n] = o * np.tanh(c[:n])
        out[t, :n] = h[:n]
    return out


def _reverse_index(lengths: I64, steps: int) -> I64:
    """Per (time, alert), the time index of the same alert's sequence reversed within its length."""
    t = np.arange(steps)[:, None]
    rev = lengths[None, :] - 1 - t
    return np.where(rev >= 0, rev, t)


def predict(weights: RnnWeights, x: F64, lengths: I64) -> F64:
    """Class probabilities (alert, class) for padded inputs `x` (time, alert, feature)."""
    steps, batch, _ = x.shape
    tw = weights.tensors
    order = np.argsort(-lengths, kind="stable")  # longest first: the live alerts of a step are a prefix
    lengths = lengths[order]
    live = (lengths[None, :] > np.arange(steps)[:, None]).sum(axis=1)
    rev = _reverse_index(lengths, steps)
    cols = np.arange(batch)[None, :]
    layer_in = x[:, order].astype(np.float64)
    for layer in range(weights.layers):
        outs = []
        suffix = f"_l{layer}"
        outs.append(
            _lstm(
                layer_in,
                tw[f"rnn_layer.weight_ih{suffix}"],
                tw[f"rnn_layer.weight_hh{suffix}"],
                tw[f"rnn_layer.bias_ih{suffix}"] + tw[f"rnn_layer.bias_hh{suffix}"],
                live,
            )
        )
        if weights.bidirectional:
            name = f"{suffix}_reverse"
            backward = _lstm(
                layer_in[rev, cols],
                tw[f"rnn_layer.weight_ih{name}"],
                tw[f"rnn_layer.weight_hh{name}"],
                tw[f"rnn_layer.bias_ih{name}"] + tw[f"rnn_layer.bias_hh{name}"],
                live,
            )
            outs.append(backward[rev, cols])
        layer_in = np.concatenate(outs, axis=-1)
    valid = (np.arange(steps)[:, None] < lengths[None, :]).astype(np.float64)
    mean = (layer_in * valid[:, :, None]).sum(axis=0) / np.maximum(lengths, 1)[:, None]
    logits = mean @ tw["output_layer.weight"].T.astype(np.float64) + tw["output_layer.bias"]
    logits -= logits.max(axis=1, keepdims=True)
    expo = np.exp(logits)
    probs = np.empty_like(expo)
    probs[order] = expo / expo.sum(axis=1, keepdims=True)
    return np.asarray(probs.astype(np.float32), dtype=np.float64)  # float32: batch-independent digits

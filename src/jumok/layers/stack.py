"""Stacked and bidirectional LSTMs, built from `jumok.layers.lstm.LSTM`.

`BiLSTM` reads a sequence both ways and has the same interface as `LSTM` (its state is the
two directions' states side by side), so `LSTMStack` can stack either kind.
"""

import numpy as np

from jumok.backend import array_module
from jumok.layers.base import Module
from jumok.layers.dropout import Dropout
from jumok.layers.lstm import LSTM


def reversal_index(mask):
    """Index that reverses each row within its real length and leaves padding in place.

    mask (N, S) → idx (N, S) with idx[n, s] = L_n − 1 − s for s < L_n, else s. It is its
    own inverse, so the same index turns reversed positions back into reading order.
    """
    xp = array_module(mask)
    lengths = mask.sum(axis=1, keepdims=True)  # (N, 1)
    s = xp.arange(mask.shape[1])[None, :]
    return xp.where(s < lengths, lengths - 1 - s, s)


def _gather(xs, idx):
    """xs (N, T, D) reordered along T by idx (N, T): out[n, t] = xs[n, idx[n, t]]."""
    return array_module(xs).take_along_axis(xs, idx[:, :, None], axis=1)


def _half(x, k, H2):
    """Slice k (0 = forward, 1 = backward) of a (N, 2·H2) state, or None."""
    return None if x is None else x[:, k * H2 : (k + 1) * H2]


NO_SINGLE_STEP = "a bidirectional LSTM needs the whole sequence; it has no single step"


class BiLSTM(Module):
    """Bidirectional LSTM (Schuster & Paliwal, 1997): one LSTM reads the sequence forwards,
    another reads it backwards, each with hidden_dim / 2 units; their outputs are joined.

        hs_f, (h_f, c_f) = LSTM_fwd(xs)
        hs_r, (h_b, c_b) = LSTM_bwd(reverse(xs))       reverse within each real length
        hs[:, s] = [hs_f[:, s] ; hs_r[:, idx[s]]]      idx = the same reversal, undone
        h = [h_f ; h_b],  c = [c_f ; c_b]

    The backward direction reads each sequence from its last real token to its first;
    padding stays at the end, where the LSTM's mask carries the state unchanged. So row s
    of hs describes token s from both sides (the forward LSTM having read tokens 0…s, the
    backward one tokens L−1…s), and (h, c) hold each direction's state after reading the
    whole real sequence. An initial state h0, c0 (N, H) is split the same way: the first
    half starts the forward direction, the second the backward one.

    Backward: the reversal is a permutation that is its own inverse, so gradients go back
    through the same gather; the input gradient is the sum of the two directions'.

    Shapes: xs (N, T, D), mask (N, T) → hs (N, T, H), (h, c) each (N, H).
    Children: fwd, bwd (LSTMs with hidden_dim / 2 units each; hidden_dim must be even).
    """

    def __init__(self, in_dim, hidden_dim, rng, dtype=np.float32):
        super().__init__()
        if hidden_dim % 2:
            raise ValueError(f"a bidirectional LSTM needs an even hidden size, got {hidden_dim}")
        self.hidden_dim = hidden_dim
        self.fwd = LSTM(in_dim, hidden_dim // 2, rng, dtype)
        self.bwd = LSTM(in_dim, hidden_dim // 2, rng, dtype)

    def forward(self, xs, h0=None, c0=None, mask=None):
        xp = array_module(xs)
        H2 = self.hidden_dim // 2
        full = xp.ones(xs.shape[:2], dtype=bool) if mask is None else mask
        self.idx = idx = reversal_index(full)
        hs_f, (h_f, c_f) = self.fwd.forward(xs, _half(h0, 0, H2), _half(c0, 0, H2), mask)
        hs_r, (h_b, c_b) = self.bwd.forward(_gather(xs, idx), _half(h0, 1, H2), _half(c0, 1, H2), mask)
        hs = xp.concatenate([hs_f, _gather(hs_r, idx)], axis=2)
        return hs, (xp.concatenate([h_f, h_b], axis=1), xp.concatenate([c_f, c_b], axis=1))

    def backward(self, dhs, dh_last=None, dc_last=None):
        """dhs (N, T, H), dh_last/dc_last (N, H) → dxs (N, T, D), dh0 (N, H), dc0 (N, H)."""
        xp = array_module(dhs)
        H2 = self.hidden_dim // 2
        dxs_f, dh0_f, dc0_f = self.fwd.backward(dhs[:, :, :H2], _half(dh_last, 0, H2), _half(dc_last, 0, H2))
        dxs_r, dh0_b, dc0_b = self.bwd.backward(_gather(dhs[:, :, H2:], self.idx),
                                                _half(dh_last, 1, H2), _half(dc_last, 1, H2))
        dxs = dxs_f + _gather(dxs_r, self.idx)
        return dxs, xp.concatenate([dh0_f, dh0_b], axis=1), xp.concatenate([dc0_f, dc0_b], axis=1)

    def step(self, x, h, c, W=None):
        raise NotImplementedError(NO_SINGLE_STEP)

    def stacked_weights(self):
        raise NotImplementedError(NO_SINGLE_STEP)


class LSTMStack(Module):
    """L LSTM layers, each reading the outputs of the one below (Sutskever et al., 2014),
    with inverted dropout between layers (Zaremba et al., 2014: on the non-recurrent
    connections only).

        x_0 = xs;   hs_l, (h_l, c_l) = layer_l(x_l, h0[l], c0[l], mask)
        x_{l+1} = Dropout(hs_l)                  (training mode only)
        → hs_{L−1}, ([h_0 … h_{L−1}], [c_0 … c_{L−1}])

    With `bidirectional` every layer is a `BiLSTM` (hidden_dim / 2 units per direction), so
    layer l > 0 reads the joined (N, T, H) outputs of both directions of layer l − 1.

    States are lists with one (N, H) array per layer (bottom first); `h0`/`c0` (or any entry
    of them) may be None for zeros, as may `dh_last`/`dc_last` in backward. The mask
    (N, T), True = real token, goes to every layer (padding never alters a state).

    Backward runs the layers top-down: dxs of layer l, through the dropout's mask, is the
    upstream gradient of layer l − 1's outputs.

    `step(x, h, c)` advances every layer by one token, for decoding: no cache, and no
    dropout whatever the mode (decoding runs in evaluation mode).

    Children: layers.0 … layers.{L−1} (LSTM or BiLSTM) and dropout modules between them,
    which have no parameters. A one-layer stack names its parameters as its only layer does
    (``Wx``, not ``layers.0.Wx``), so a model with one layer keeps the names it had with a
    plain LSTM (``encoder.lstm.Wx``).
    """

    def __init__(self, in_dim, hidden_dim, layers, rng, dtype=np.float32, *, bidirectional=False,
                 dropout=0.0, dropout_rng=None):
        super().__init__()
        if layers < 1:
            raise ValueError(f"need at least one layer, got {layers}")
        if dropout > 0 and dropout_rng is None:
            raise ValueError("dropout > 0 needs a random generator (dropout_rng)")
        self.hidden_dim = hidden_dim
        self.bidirectional = bidirectional
        layer_class = BiLSTM if bidirectional else LSTM
        self.layers = [layer_class(in_dim if l == 0 else hidden_dim, hidden_dim, rng, dtype) for l in range(layers)]
        self.drops = [Dropout(dropout, dropout_rng) for _ in range(layers - 1)]

    def children(self):
        """As `Module.children`, except that the only layer of a one-layer stack is named ""."""
        for name, child in super().children():
            yield ("" if len(self.layers) == 1 and child is self.layers[0] else name), child

    def _per_layer(self, states):
        return [None] * len(self.layers) if states is None else list(states)

    def forward(self, xs, h0=None, c0=None, mask=None):
        """xs (N, T, D) → hs (N, T, H) of the top layer, (h list, c list) final states."""
        h0, c0 = self._per_layer(h0), self._per_layer(c0)
        hs_final, cs_final = [], []
        x = xs
        for l, layer in enumerate(self.layers):
            hs, (h, c) = layer.forward(x, h0[l], c0[l], mask)
            hs_final.append(h)
            cs_final.append(c)
            x = self.drops[l].forward(hs) if l < len(self.drops) else hs
        return x, (hs_final, cs_final)

    def backward(self, dhs, dh_last=None, dc_last=None):
        """dhs (N, T, H) at the top, dh_last/dc_last lists → dxs (N, T, D), dh0 list, dc0 list."""
        dh_last, dc_last = self._per_layer(dh_last), self._per_layer(dc_last)
        L = len(self.layers)
        dh0, dc0 = [None] * L, [None] * L
        d = dhs
        for l in reversed(range(L)):
            if l < len(self.drops):
                d = self.drops[l].backward(d)
            d, dh0[l], dc0[l] = self.layers[l].backward(d, dh_last[l], dc_last[l])
        return d, dh0, dc0

    def step_weights(self):
        """Every layer's `LSTM.stacked_weights()`, a list bottom first, for `step`: a decoder
        builds them once per decode and keeps them in its state (not once per token)."""
        return [layer.stacked_weights() for layer in self.layers]

    def step(self, x, h, c, weights=None):
        """One token through every layer: x (N, D), h/c lists of (N, H) → new h list, c list.
        `weights` is `step_weights()` (built here when not given)."""
        weights = [None] * len(self.layers) if weights is None else weights
        new_h, new_c = [], []
        for layer, h_l, c_l, W in zip(self.layers, h, c, weights, strict=True):
            x, c_l = layer.step(x, h_l, c_l, W)
            new_h.append(x)
            new_c.append(c_l)
        return new_h, new_c

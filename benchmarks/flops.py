"""Analytic count of the floating-point operations of one training step.

Only matrix products are counted (2·m·k·n each); the elementwise work (gate
nonlinearities, softmax, loss, clipping, Adam) is O(parameters + activations), small next
to them, and memory-bound, so it does not belong in a GEMM-rate limit.

Shapes: N batch, S source length, T target length, D embedding, H hidden, V target vocab.
"""


def training_step_flops(N, S, T, D, H, V):
    """{component: FLOPs} of forward + backward of the dot-attention model, plus "total".

    forward
      encoder LSTM   2·N·S·(D+H)·4H      x Wx and h Wh for every source step
      decoder LSTM   2·N·T·(D+H)·4H
      attention      2·N·T·S·H · 2       scores = dec_hs enc_hsᵀ, context = a enc_hs
      affine         2·N·T·2H·V          [context; dec_hs] W
    backward = 2 × forward for each: every product y = x W needs dx = dy Wᵀ and dW = xᵀ dy
      (LSTM: dxs, dWx, dh_prev, dWh; attention: da, denc (from context), denc and ddec
      (from scores); affine: dx, dW).
    """
    forward = {
        "encoder_lstm": 2 * N * S * (D + H) * 4 * H,
        "decoder_lstm": 2 * N * T * (D + H) * 4 * H,
        "attention": 2 * 2 * N * T * S * H,
        "affine": 2 * N * T * 2 * H * V,
    }
    counts = {}
    for name, f in forward.items():
        counts[f"{name}_forward"] = f
        counts[f"{name}_backward"] = 2 * f
    counts["total"] = sum(counts.values())
    return counts

"""Analytic count of the floating-point operations of one training step: the chapter's
attention model (`training_step_flops`) and the Transformer (`transformer_step_flops`).

Only matrix products are counted (2·m·k·n each); the elementwise work (gate
nonlinearities, softmax, loss, clipping, Adam) is O(parameters + activations), small next
to them, and memory-bound, so it does not belong in a GEMM-rate limit.

Shapes: N batch, S source length, T target length, V target vocab; the attention model's D
embedding and H hidden; the Transformer's sizes as its `Sizes`.
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
    return with_backward(forward)


def transformer_step_flops(N, S, T, sizes, V):
    """{component: FLOPs} of forward + backward of the Transformer (`jumok.models.transformer`,
    `sizes` a `Sizes`: width D, feed-forward width F, L layers a stack), plus "total". The
    heads change no count: h products of width d_h = D / h add up to one of width D.

    forward, per layer
      encoder self-attention    2·N·S·D·3D + 2·2·N·S·S·D + 2·N·S·D·D      Q K V; scores, context; Wo
      encoder feed-forward      2·2·N·S·D·F
      decoder self-attention    2·N·T·D·3D + 2·2·N·T·T·D + 2·N·T·D·D      the causal scores in full,
                                                                           as jumok computes them
      decoder cross-attention   2·N·T·D·D + 2·N·S·D·2D + 2·2·N·T·S·D + 2·N·T·D·D
      decoder feed-forward      2·2·N·T·D·F
    and once
      output                    2·N·T·D·V
    backward = 2 × forward for each: both operands of every product get a gradient (the first
    layer's input gradient too, which goes on to the embeddings).
    """
    D, F, L = sizes.width, sizes.ff_width, sizes.layers

    def self_attention(n):
        return 2 * N * n * D * 3 * D + 2 * 2 * N * n * n * D + 2 * N * n * D * D

    forward = {
        "encoder_self_attention": L * self_attention(S),
        "encoder_feed_forward": L * 2 * 2 * N * S * D * F,
        "decoder_self_attention": L * self_attention(T),
        "decoder_cross_attention": L * (2 * N * T * D * D + 2 * N * S * D * 2 * D + 2 * 2 * N * T * S * D
                                        + 2 * N * T * D * D),
        "decoder_feed_forward": L * 2 * 2 * N * T * D * F,
        "output": 2 * N * T * D * V,
    }
    return with_backward(forward)


def with_backward(forward):
    """{component: forward FLOPs} → {component_forward, component_backward (2 × forward), total}."""
    counts = {}
    for name, f in forward.items():
        counts[f"{name}_forward"] = f
        counts[f"{name}_backward"] = 2 * f
    counts["total"] = sum(counts.values())
    return counts

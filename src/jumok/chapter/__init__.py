"""The attention chapter in its literal form, for learners.

These are the course's layers written the way the chapter writes them, one time step and
one object at a time, so that each equation can be read off the code:

  * `jumok.chapter.attention`: AttentionWeight and WeightSum (Repeat → Hadamard → Sum),
    Attention (the two together, for one decoder step) and StepwiseTimeAttention (one
    Attention per decoder step, in a loop);
  * `jumok.chapter.reference`: the step-by-step attention seq2seq model (TimeEmbedding,
    LSTMCell and TimeLSTM, TimeAffine) with the parameter names of
    `jumok.models.AttentionSeq2seq`, so the two can swap parameters;
  * `jumok.chapter.multi_head`: the Transformer's multi-head attention as the chapter's
    AttentionWeight + WeightSum over projected queries, keys and values, one head and one
    query step at a time (LiteralMultiHeadAttention, built from a MultiHeadAttention).

Training never runs them: the fast forms (`jumok.layers.time_attention.TimeAttention`,
`jumok.layers.lstm.LSTM`, `jumok.layers.multi_head.MultiHeadAttention`, `jumok.models`) do
the same arithmetic in batched products, and the tests prove each literal form equal to its
fast one, in forward and backward (tests/chapter/test_attention.py,
tests/chapter/test_reference.py, tests/chapter/test_literal_multi_head.py,
tests/layers/test_layers.py).
"""

from jumok.chapter.attention import Attention, AttentionWeight, StepwiseTimeAttention, WeightSum
from jumok.chapter.multi_head import LiteralMultiHeadAttention
from jumok.chapter.reference import LSTMCell, ReferenceAttentionSeq2seq

__all__ = ["Attention", "AttentionWeight", "LSTMCell", "LiteralMultiHeadAttention", "ReferenceAttentionSeq2seq",
           "StepwiseTimeAttention", "WeightSum"]

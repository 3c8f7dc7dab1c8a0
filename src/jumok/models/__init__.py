from jumok.models.build import build_model, load_run
from jumok.models.registry import MODELS
from jumok.models.seq2seq import AttentionSeq2seq, PeekySeq2seq, Seq2seq, Seq2seqModel
from jumok.models.transformer import TransformerSeq2seq

__all__ = ["MODELS", "AttentionSeq2seq", "PeekySeq2seq", "Seq2seq", "Seq2seqModel", "TransformerSeq2seq",
           "build_model", "load_run"]

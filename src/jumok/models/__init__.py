from jumok.models.build import build_model, load_run
from jumok.models.seq2seq import MODELS, AttentionSeq2seq, PeekySeq2seq, Seq2seq, Seq2seqModel

__all__ = ["MODELS", "AttentionSeq2seq", "PeekySeq2seq", "Seq2seq", "Seq2seqModel", "build_model", "load_run"]

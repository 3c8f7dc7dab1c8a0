from jumok.models.seq2seq import MODELS, AttentionSeq2seq, PeekySeq2seq, Seq2seq, Seq2seqModel, build_model

__all__ = ["MODELS", "AttentionSeq2seq", "PeekySeq2seq", "Seq2seq", "Seq2seqModel", "build_model"]

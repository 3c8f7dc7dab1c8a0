"""Errors that the CLI turns into one clear line on stderr and a non-zero exit code."""


class JumokError(Exception):
    """Base class: the message alone must tell the user what went wrong and where."""


class DataError(JumokError):
    """A data file or generated set is not what was expected (message: ``file:line: ...``)."""


class UnknownTokenError(JumokError):
    """Input holds tokens the vocabulary has never seen."""

    def __init__(self, tokens, where="input"):
        self.tokens = sorted(set(tokens))
        shown = " ".join(repr(t) for t in self.tokens)
        super().__init__(f"{where} has tokens never seen in training: {shown}")


class ConfigError(JumokError):
    """A configuration key or value is wrong."""


class CheckpointError(JumokError):
    """A run directory or checkpoint is missing, incomplete or does not match its config."""


class TrainingError(JumokError):
    """Training cannot go on (a loss or gradient that is not finite); the message says how to resume."""

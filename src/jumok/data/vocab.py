"""A token <-> id table with four fixed special tokens.

Ids 0..3 are always ``<pad>``, ``<s>`` (begin), ``</s>`` (end) and ``<unk>``; ordinary
tokens follow in a fixed order, so a saved vocabulary maps every token to the same id.
"""

import json

from jumok.atomic import write_text
from jumok.errors import DataError, UnknownTokenError

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


class Vocab:
    """Maps tokens to integer ids; the specials come first with ids 0, 1, 2, 3."""

    def __init__(self, tokens=()):
        """Build from ordinary tokens, kept in the given order with duplicates dropped."""
        self._tokens = list(SPECIALS)
        self._ids = {tok: i for i, tok in enumerate(SPECIALS)}
        for tok in tokens:
            if not isinstance(tok, str):
                raise TypeError(f"tokens must be strings, got {tok!r}")
            if tok in SPECIALS:
                raise ValueError(f"{tok!r} is a special token name and cannot be a vocabulary token")
            if tok not in self._ids:
                self._ids[tok] = len(self._tokens)
                self._tokens.append(tok)

    @classmethod
    def build(cls, sequences):
        """Vocabulary of every token found in ``sequences`` (iterable of token lists), sorted."""
        return cls(sorted({tok for seq in sequences for tok in seq}))

    pad_id = property(lambda self: 0, doc="Id of the padding token.")
    bos_id = property(lambda self: 1, doc="Id of the begin-of-sequence token.")
    eos_id = property(lambda self: 2, doc="Id of the end-of-sequence token.")
    unk_id = property(lambda self: 3, doc="Id of the unknown-token token.")

    @property
    def tokens(self) -> list[str]:
        """All tokens, specials included, in id order (a copy)."""
        return list(self._tokens)

    def __len__(self):
        return len(self._tokens)

    def __contains__(self, tok):
        return tok in self._ids

    def __eq__(self, other):
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._tokens == other._tokens

    def __repr__(self):
        return f"Vocab({len(self)} tokens)"

    def token_to_id(self, tok: str) -> int:
        """Id of ``tok``; raises `UnknownTokenError` if it is not in the vocabulary."""
        try:
            return self._ids[tok]
        except KeyError:
            raise UnknownTokenError([tok]) from None

    def id_to_token(self, i: int) -> str:
        """Token with id ``i``; raises IndexError for an id outside ``0..len-1``."""
        i = int(i)
        if not 0 <= i < len(self._tokens):
            raise IndexError(f"token id {i} out of range 0..{len(self._tokens) - 1}")
        return self._tokens[i]

    def encode(self, tokens, unknown: str = "error", where: str = "input") -> list[int]:
        """Ids of ``tokens`` (no specials added).

        ``unknown="error"`` raises `UnknownTokenError` naming every unknown token;
        ``unknown="unk"`` maps them to `unk_id`.
        """
        if unknown not in ("error", "unk"):
            raise ValueError(f"unknown must be 'error' or 'unk', got {unknown!r}")
        ids = [self._ids.get(tok, -1) for tok in tokens]
        if -1 in ids:
            if unknown == "error":
                raise UnknownTokenError([t for t, i in zip(tokens, ids) if i == -1], where)
            ids = [self.unk_id if i == -1 else i for i in ids]
        return ids

    def decode(self, ids) -> list[str]:
        """Tokens of ``ids`` (list or numpy array): stops at the first EOS, skips PAD and BOS."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                out.append(self.id_to_token(i))
        return out

    def to_dict(self) -> dict:
        """JSON-able form: ``{"tokens": [ordinary tokens in id order]}``."""
        return {"tokens": self._tokens[len(SPECIALS):]}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        """Inverse of `to_dict`."""
        return cls(d["tokens"])

    def save(self, path):
        """Write as JSON, atomically (temp file in the same folder, then ``os.replace``)."""
        write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")

    @classmethod
    def load(cls, path) -> "Vocab":
        """Read a vocabulary written by `save`; a missing or malformed file raises `DataError`."""
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{path}: not a vocabulary JSON file ({e})") from None
        if not (isinstance(d, dict) and isinstance(d.get("tokens"), list)):
            raise DataError(f'{path}: expected a JSON object {{"tokens": [...]}}')
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as e:
            raise DataError(f"{path}: {e}") from None


"""Several trained models decoding as one: an ensemble.

At every step each of the M members gives its log-probabilities of the next token, given
the source x and the tokens y_<t chosen so far (the same for all members); the ensemble's
are their mean, renormalised:

    s(v) = (1/M) Σ_m log p_m(v | y_<t, x),        log p(v) = s(v) − log Σ_u exp s(u)

— the normalised geometric mean of the members' distributions. A token survives only if no
member finds it unlikely, which is what makes independently trained runs correct each
other's slips.

`Ensemble` speaks the decoding half of the model interface (`jumok.models.interface`):
`encode`, `start` and `step` work on an `EnsembleState` that holds one state per member and
whose `select(index)` selects in each. So greedy decoding and beam search run on it
unchanged. Members may differ in anything but their vocabularies (size, layers, reversal,
seed: each member's `encode` reverses the sources if it was trained so). Their attention
weights are not combined: an ensemble's outputs carry none.
"""

import numpy as np

from jumok.functional import log_softmax


class EnsembleState:
    """The members' decoder states, in member order."""

    def __init__(self, states):
        self.states = states

    def select(self, index):
        """The state of the rows `index`, in every member."""
        return EnsembleState([state.select(index) for state in self.states])


class Ensemble:
    """Trained models (speaking `jumok.models.interface`, over the same vocabularies, on the
    same device) that decode as one: the decoding half of the model interface, with no maps."""

    map_names = ()
    self_map_names = ()

    def __init__(self, members):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.xp = self.members[0].xp
        limits = [m.max_positions for m in self.members if m.max_positions is not None]
        self.max_positions = min(limits) if limits else None  # every member must read the source

    def row_cost(self, source_length, steps, beam=1, maps=(), rows=1):
        """The members' costs added: they decode the same rows side by side (no maps)."""
        return sum(m.row_cost(source_length, steps, beam, rows=rows) for m in self.members)

    def source_maps(self, encoded):
        """{}: an ensemble's outputs carry no attention."""
        return {}

    @property
    def training(self):
        return self.members[0].training

    def encode(self, src, src_mask):
        """Each member's encoding of the batch, in member order."""
        return [m.encode(src, src_mask) for m in self.members]

    def start(self, encoded):
        return EnsembleState([m.start(enc) for m, enc in zip(self.members, encoded, strict=True)])

    def step(self, tokens, state, maps=False):
        """tokens (rows,) → (log p (rows, V), the next `EnsembleState`, {}: an ensemble's outputs
        carry no attention); each step's log p is the mean of the members' log-probabilities,
        renormalised (see the module docstring)."""
        mean, states = 0.0, []
        for m, member_state in zip(self.members, state.states, strict=True):
            scores, next_state, _ = m.step(tokens, member_state)
            mean = mean + log_softmax(scores.astype(np.float64, copy=False), axis=-1) / len(self.members)
            states.append(next_state)
        return log_softmax(mean, axis=-1), EnsembleState(states), {}

    def train(self, mode=True):
        for m in self.members:
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def replica(self):
        """The ensemble of its members' replicas (`Module.replica`): the same parameters."""
        return Ensemble([m.replica() for m in self.members])

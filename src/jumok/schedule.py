"""When training stops and how the learning rate moves: pure functions of the run's history
(one record per epoch, as history.json holds them) and its `Config`. Nothing here keeps state:
the trainer asks, and the same history always gets the same answer.

Epoch schedules (`Config.lr_schedule`, listed in `jumok.optim.LR_SCHEDULES`) multiply the rate
by `Config.lr_decay` after an epoch when their rule says so (`next_lr`); the per-step schedule
(`step_lr`) scales it inside an epoch, for a warm-up.
"""

LOSS_GAIN = 0.01
"""How much lower than its lowest (a fraction of it) the validation loss must be to count as
progress: a loss that creeps down by less is not a reason to go on."""


def score_key(entry):
    """What ranks epochs: validation exact match, ties broken by the lower token error rate."""
    return entry["valid_exact_match"], -entry["valid_token_error_rate"]


def plateau_count(history, patience=None):
    """(epochs since the best one or the last decay, whether the rate decays after the last
    epoch), walking the history as the epochs came: with a `patience` (the ``plateau``
    schedule's lr_patience) the rate decays once the count reaches it, and the count starts
    again; without, it only counts."""
    count, decays, best = 0, False, None
    for entry in history:
        if best is None or score_key(entry) > best:
            best, count = score_key(entry), 0
        else:
            count += 1
        decays = patience is not None and count >= patience
        if decays:
            count = 0
    return count, decays


def next_lr(history, lr, config):
    """The learning rate for the epoch after the last one in `history`, from `lr`:

    epoch     every epoch, lr · lr_decay;
    plateau   after lr_patience epochs without a better validation score (`plateau_count`);
    stall     after every lr_patience epochs in a row in which validation improved in no score
              (`epochs_without_progress`)."""
    if config.lr_schedule == "epoch":
        return lr * config.lr_decay
    if config.lr_schedule == "stall":
        stalled = epochs_without_progress(history)
        return lr * config.lr_decay if stalled and stalled % config.lr_patience == 0 else lr
    return lr * config.lr_decay if plateau_count(history, config.lr_patience)[1] else lr


def step_lr(step, lr, config):
    """The rate of optimizer step `step` (counted from 1) within an epoch at rate `lr`: a linear
    warm-up lr · step / warmup_steps over the first ``Config.warmup_steps`` steps, then lr."""
    warmup = config.warmup_steps
    return lr * step / warmup if warmup and step < warmup else lr


def epochs_without_progress(history):
    """Epochs in a row, up to the last, in which validation improved in no score: not the best,
    no token error rate below its lowest, and no validation loss `LOSS_GAIN` below its lowest
    while any validation pair is still wrong. So a run at 0 % exact match whose tokens, or
    whose probabilities, are getting right is still learning, and one that is right on every
    pair stops once nothing else improves."""
    bad, best, lowest_error, lowest_loss = 0, None, None, None
    for entry in history:
        error, loss = entry["valid_token_error_rate"], entry.get("valid_loss")
        fewer_errors = lowest_error is None or error < lowest_error
        lowest_error = error if fewer_errors else lowest_error
        lower_loss = loss is not None and (lowest_loss is None or loss < lowest_loss * (1 - LOSS_GAIN))
        if loss is not None and (lowest_loss is None or loss < lowest_loss):
            lowest_loss = loss
        is_best = best is None or score_key(entry) > best
        best = score_key(entry) if is_best else best
        learning = lower_loss and entry["valid_exact_match"] < 1
        bad = 0 if is_best or fewer_errors or learning else bad + 1
    return bad


def out_of_time(history, budget_minutes):
    """True if one more epoch, as long as the longest so far, would end past the budget.

    Counts training seconds only (as recorded in the history), not validation."""
    if not budget_minutes or not history:
        return False
    spent = sum(entry["seconds"] for entry in history)
    return spent + max(entry["seconds"] for entry in history) > 60 * budget_minutes

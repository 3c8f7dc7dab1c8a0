"""When training stops and how the learning rate moves: pure functions of the run's history
(one record per epoch, as history.json holds them) and its `Config`. Nothing here keeps state:
the trainer asks, and the same history always gets the same answer.

Epoch schedules (`Config.lr_schedule`, listed in `jumok.optim.LR_SCHEDULES`) multiply the rate
by `Config.lr_decay` after an epoch when their rule says so (`next_lr`); the per-step rate
(`step_lr`) scales it inside an epoch: for a warm-up, and for the ``linear`` schedule, which
lowers it a little every step until the run's planned end (`planned_epochs`).
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
    if config.lr_schedule == "linear":
        return lr  # it falls step by step instead (`step_lr`)
    if config.lr_schedule == "epoch":
        return lr * config.lr_decay
    if config.lr_schedule == "stall":
        stalled = epochs_without_progress(history)
        return lr * config.lr_decay if stalled and stalled % config.lr_patience == 0 else lr
    return lr * config.lr_decay if plateau_count(history, config.lr_patience)[1] else lr


def step_lr(step, lr, config, planned_steps=0):
    """The rate of optimizer step `step` (counted from 1 over the whole run) at the epoch's rate
    `lr`. Over the first W = ``Config.warmup_steps`` steps a linear warm-up, lr · step / W; after
    it, with the ``linear`` schedule, a straight fall from lr at step W to lr · lr_decay at step
    `planned_steps` (S), and lr · lr_decay from there on:

        rate = lr · (1 − (1 − lr_decay) · min(1, (step − W) / (S − W)))

    Every other schedule keeps lr here and changes it between epochs (`next_lr`)."""
    warmup = config.warmup_steps
    if warmup and step < warmup:
        return lr * step / warmup
    if config.lr_schedule != "linear" or not planned_steps:
        return lr
    done = min(1.0, (step - warmup) / max(1, planned_steps - warmup))
    return lr * (1 - (1 - config.lr_decay) * done)


def planned_epochs(history, config):
    """The epochs the run is planned to train, over which the ``linear`` schedule lowers the rate:
    ``Config.epochs``; with a time budget, once the first epoch is in `history`, the epochs that
    fit in the budget at that epoch's pace, ⌊60 · time_budget / its seconds⌋ (at least 1, at most
    ``Config.epochs``). Fixed from then on: the rate steps once, when the first epoch of a
    budgeted run ends and the fall planned over ``Config.epochs`` becomes the budget's (a few
    per cent for an hour of 2-minute epochs), and then falls smoothly; a run whose later epochs
    are slower stops (`out_of_time`) before the rate has reached its end."""
    if not config.time_budget or not history:
        return config.epochs
    fit = int(60 * config.time_budget // history[0]["seconds"])
    return max(1, min(config.epochs, fit))


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

"""What N workers can gain: the bound on this machine's cores, and the data-parallel step at
8–64 ranks predicted from one rank's measured step on its slice of the batch plus the
Allreduce of the gradients over a cluster network.

    PYTHONPATH=src python -m benchmarks.parallel --predict RECORD.json

RECORD.json is a record of `python -m benchmarks.parallel --slices 64 32 16 8 4 2`: its
one-process step on the whole batch and one worker's step on each slice. The networks
(`NETWORKS`) are typical published figures, not measurements of this project.
"""

NETWORKS = {  # latency α (s), bandwidth β (bytes/s) of an MPI message; typical published figures
    "10 Gb/s Ethernet (TCP)": (25e-6, 1.1e9),
    "100 Gb/s InfiniBand": (2e-6, 11e9),
}
GRADIENT_BYTES = 591_259 * 4  # the chapter model's float32 gradients (V 59, D 16, H 256)


def bound(one_process_s, one_worker_s, workers):
    """The most `workers` cores can gain over one process: N × t(1 process) ÷ t(1 worker), the
    speed-up if they shared out one core's work on the whole batch without any loss."""
    return workers * one_process_s / one_worker_s


def allreduce_seconds(ranks, nbytes, latency, bandwidth):
    """Time of an Allreduce of `nbytes` over `ranks` ranks, the large-message algorithm of
    MPICH (reduce-scatter, then allgather; Rabenseifner 2004):

        T = 2 ⌈log₂ p⌉ α + 2 (p − 1) / p · n / β

    with latency α (seconds per message) and bandwidth β (bytes per second)."""
    steps = (ranks - 1).bit_length()  # ⌈log₂ p⌉
    return 2 * steps * latency + 2 * (ranks - 1) / ranks * nbytes / bandwidth


def predicted_speedup(one_process_s, slice_step_s, ranks, nbytes, latency, bandwidth):
    """Speed-up of a global step over `ranks` ranks against one process taking
    `one_process_s`: each rank computes its slice (`slice_step_s`, measured), then the
    gradients are summed (`allreduce_seconds`)."""
    return one_process_s / (slice_step_s + allreduce_seconds(ranks, nbytes, latency, bandwidth))


def predict(record):
    """Print the cost model's global-step speed-ups from a record's one-process step and slices."""
    base = record["rows"]["jumok, 1 process"]["train_step_s"]
    per_rank = record["settings"]["N"]
    print(f"one process, batch {per_rank}: {base * 1e3:.1f} ms; Allreduce of {GRADIENT_BYTES / 1e6:.2f} MB\n")
    print("| ranks | rows each | slice step | " + " | ".join(f"Allreduce, {n} | speed-up" for n in NETWORKS) + " |")
    print("| --- | --- | --- | " + " | ".join("--- | ---" for _ in NETWORKS) + " |")
    for ranks in (8, 16, 32, 64):
        rows = per_rank // ranks
        slice_s = record["slices"].get(str(rows), {}).get("train_step_s")
        if slice_s is None:
            continue
        cells = []
        for latency, bandwidth in NETWORKS.values():
            reduce_s = allreduce_seconds(ranks, GRADIENT_BYTES, latency, bandwidth)
            speedup = predicted_speedup(base, slice_s, ranks, GRADIENT_BYTES, latency, bandwidth)
            cells.append(f"{reduce_s * 1e3:.2f} ms | {speedup:.1f} ×")
        print(f"| {ranks} | {rows} | {slice_s * 1e3:.1f} ms | " + " | ".join(cells) + " |")
    one = record["rows"]["jumok, 1 worker (1 BLAS thread)"]["train_step_s"]
    print(f"\n{per_rank} rows per rank (the batch grows with the ranks; one rank's step {one * 1e3:.1f} ms): "
          "efficiency " + ", ".join(f"{n} at 64 ranks {one / (one + allreduce_seconds(64, GRADIENT_BYTES, *net)):.3f}"
                                    for n, net in NETWORKS.items()))

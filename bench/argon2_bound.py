"""Measure argon2id verifications per second with argon2-cffi, one process per core.

This is the hashing bound of a login: a login cannot go faster than the machine
verifies passwords. Prints TSV lines: name, processes, verifications, seconds,
verifications_per_s.

    argon2_bound.py [--memory-kib 19456] [--iterations 2] [--lanes 1] [--seconds 5] [--processes N]
"""
import argparse
import multiprocessing
import os
import time

from argon2 import PasswordHasher, Type

PASSWORD = "Ward-7#Lumen"


def verify_for(args):
    memory_kib, iterations, lanes, seconds = args
    hasher = PasswordHasher(time_cost=iterations, memory_cost=memory_kib, parallelism=lanes,
                            hash_len=32, salt_len=16, type=Type.ID)
    encoded = hasher.hash(PASSWORD)
    hasher.verify(encoded, PASSWORD)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        hasher.verify(encoded, PASSWORD)
        count += 1
    return count, time.perf_counter() - started


def measure(processes, params):
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(verify_for, [params] * processes)
    count = sum(n for n, _ in results)
    seconds = max(elapsed for _, elapsed in results)
    return count, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-kib", type=int, default=19456, help="argon2 memory in KiB")
    parser.add_argument("--iterations", type=int, default=2, help="argon2 passes")
    parser.add_argument("--lanes", type=int, default=1, help="argon2 lanes")
    parser.add_argument("--seconds", type=float, default=5.0, help="time each measurement runs")
    parser.add_argument("--processes", type=int, default=os.cpu_count(), help="processes verifying at once")
    options = parser.parse_args()
    params = (options.memory_kib, options.iterations, options.lanes, options.seconds)
    label = f"m{options.memory_kib}_t{options.iterations}_p{options.lanes}"
    for processes in sorted({1, options.processes}):
        count, seconds = measure(processes, params)
        print(f"argon2cffi_{label}_verify\t{processes}\t{count}\t{seconds:.3f}\t{count / seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()

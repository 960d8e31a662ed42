#!/usr/bin/env python3
"""Where a gatehoused profile's time goes, by subsystem (issue 14; docs/benchmarks.md).

    python3 scripts/bench/perf-summary.py FILE.data [REQUESTS]

FILE.data comes from scripts/bench-server.sh with BENCH_PERF_DIR set (best with
BENCH_PERF_ARGS="--call-graph dwarf,16384 -F 499" and a binary that keeps its symbols, e.g. built
with CARGO_PROFILE_RELEASE_STRIP=none: same code as the release build, plus a symbol table).
REQUESTS (the row's request count, from the wrk output) turns CPU time into µs per request.

Prints the server's CPU time per thread name, then every sample put in one bucket, then the top
self symbols. A sample's bucket comes from its call chain, leaf first:
  - in the kernel: the system call it is in (futex = a thread handing work to another or waiting
    for it; fsync; pwrite/pread = SQLite's file I/O; fcntl = SQLite's file locks; socket calls;
    epoll), or "kernel, no system call" (interrupts, page faults, scheduler ticks);
  - in user space: glibc malloc/free or memcpy when the leaf is one of them, else the first frame
    that names a known part (Ed25519 signing, other crypto, the SQLite engine, sqlx, JSON,
    tracing, hyper, axum/tower, tokio, gatehouse's own code).
The buckets are a reading aid: a frame's name decides, so generic code can land in a neighbour.
Needs `perf` (Debian package linux-perf).
"""

import collections
import re
import subprocess
import sys

KERNEL_SYSCALLS = [
    (r"sys_futex", "kernel: futex (thread hand-offs: wake another thread, wait for one)"),
    (r"sys_fsync|sys_fdatasync", "kernel: fsync (SQLite commit)"),
    (r"sys_pwrite|sys_pread|sys_write$|sys_read$|sys_lseek", "kernel: file read/write"),
    (r"sys_fcntl", "kernel: fcntl (SQLite file locks)"),
    (r"sys_sendto|sys_recvfrom|sys_writev|sys_sendmsg|sys_recvmsg|sys_accept|sys_shutdown"
     r"|sys_close", "kernel: socket calls"),
    (r"sys_epoll", "kernel: epoll"),
    (r"sys_sched_yield", "kernel: sched_yield"),
    (r"sys_mmap|sys_munmap|sys_mprotect|sys_madvise|sys_brk", "kernel: memory mapping"),
]

USER_RULES = [
    (r"ed25519|x25519|curve25519|^fe_|fiat_25519|^ge_", "Ed25519 (access-token signing)"),
    (r"^ring::|ring_core|sha256|sha512|hmac|getrandom|rand::|chacha", "other crypto (HMAC, SHA, RNG)"),
    (r"^sqlite3|^pcache|^pager|^btree|^vdbe|^unix[A-Z]|^wal[A-Z]", "SQLite engine (C)"),
    (r"sqlx_sqlite|libsqlite3", "sqlx-sqlite driver"),
    (r"sqlx_postgres", "sqlx-postgres driver"),
    (r"sqlx", "sqlx Any driver and pool"),
    (r"serde_json|^serde::|serde_core", "JSON (serde)"),
    (r"tracing", "tracing (spans, log lines)"),
    (r"^flume|crossbeam|futures_channel|futures_intrusive|tokio::sync", "channels, locks"),
    (r"hyper|httparse|^http::|^<http::", "HTTP (hyper)"),
    (r"axum|tower", "routing, middleware (axum, tower)"),
    (r"tokio", "tokio runtime"),
    (r"gatehouse", "gatehouse code"),
]

ALLOC = re.compile(r"^(malloc|free|cfree|realloc|calloc|_int_malloc|_int_free|_int_realloc|"
                   r"unlink_chunk|malloc_consolidate|tcache|__libc_malloc|__libc_free|"
                   r"__rust_alloc|__rust_dealloc|__rdl_|alloc::alloc)")
MEMCPY = re.compile(r"^__mem(move|cpy|set|cmp)|^memcpy|^memmove|^memset")


def samples(path):
    """Yields (thread name, period, [(symbol, dso), ...] leaf first) for each sample."""
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", "comm,period,ip,sym,dso"],
        check=True, capture_output=True, text=True).stdout
    for block in out.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        head = lines[0].split()
        comm, period = " ".join(head[:-1]), int(head[-1]) if head[-1].isdigit() else 1
        frames = []
        for line in lines[1:]:
            m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
            if m:
                sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
                frames.append((sym, m.group(2)))
        yield comm, period, frames


def bucket(frames):
    if not frames:
        return "unknown"
    if "kernel" in frames[0][1]:
        kernel = [sym for sym, dso in frames if "kernel" in dso]
        for sym in kernel:
            for pattern, name in KERNEL_SYSCALLS:
                if re.search(pattern, sym):
                    # read/write on a socket is socket I/O, not file I/O.
                    if name.endswith("file read/write") and any(
                            re.search(r"^(tcp_|sock_|inet_|unix_stream)", k) for k in kernel):
                        return "kernel: socket calls"
                    return name
        return "kernel: no system call (interrupts, faults, scheduler)"
    leaf = frames[0][0]
    if ALLOC.search(leaf):
        return "allocation (malloc/free)"
    if MEMCPY.search(leaf):
        return "memcpy/memmove"
    for sym, _ in frames:
        for pattern, name in USER_RULES:
            if re.search(pattern, sym):
                return name
    return "other user space (" + (frames[0][1].rsplit("/", 1)[-1]) + ")"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    requests = int(sys.argv[2]) if len(sys.argv) == 3 else 0
    threads, buckets, leaves = (collections.Counter() for _ in range(3))
    total = 0
    for comm, period, frames in samples(sys.argv[1]):
        total += period
        threads[comm] += period
        buckets[bucket(frames)] += period
        if frames:
            leaves[frames[0][0][:110]] += period
    if total == 0:
        sys.exit("no samples in " + sys.argv[1])
    cpu = total / 1e9  # cpu-clock periods are nanoseconds
    per = f", {cpu * 1e6 / requests:.0f} µs per request" if requests else ""
    print(f"server CPU sampled: {cpu:.2f} s{per}")

    def table(title, counter, limit):
        print(f"\n{title}")
        for name, value in counter.most_common(limit):
            print(f"  {100 * value / total:5.1f} %  {name}")

    table("by thread", threads, 10)
    table("by bucket", buckets, 30)
    table("top self symbols", leaves, 25)


if __name__ == "__main__":
    main()

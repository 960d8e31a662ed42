#!/usr/bin/env python3
"""Fails when a tracked Rust or JavaScript file has a line longer than its limit.

rustfmt keeps code within `max_width` (rustfmt.toml) but cannot break long string literals,
comments or macro bodies it gives up on; this check covers what it leaves. The window's scripts
(ui/) have their own, wider limit. Counts characters, not bytes.

    scripts/check-lines.py            # the whole tree (files git tracks or would add)
"""
import subprocess
import sys

LIMITS = {".rs": 100, ".js": 120, ".mjs": 120}


def tracked_files():
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True, text=True,
    ).stdout
    return [f for f in out.splitlines() if "node_modules/" not in f]


def main() -> int:
    bad = []
    for path in tracked_files():
        limit = next((n for ext, n in LIMITS.items() if path.endswith(ext)), None)
        if limit is None:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    width = len(line.rstrip("\n"))
                    if width > limit:
                        bad.append(f"{path}:{number}: {width} characters (limit {limit})")
        except FileNotFoundError:
            continue  # deleted in the work tree, still in the index
    for line in bad:
        print(line)
    if bad:
        print(f"check-lines: {len(bad)} line(s) over the limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

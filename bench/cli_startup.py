"""Benchmark: how long ``kbx`` takes to start, next to a bare Python start.

Prints, for each command, the median, min and max wall time of ``--runs`` starts (after one
untimed start that warms the file cache and the bytecode), the median's ratio to ``python -c
pass``, and PASS or MISS against the targets: ``kbx --help`` within 0.3 s, ``kbx export list``
within 1.0 s. The commands take turns, so that a machine that gets busier in the middle weighs
on each of them alike. Asserts nothing.

``kbx export list`` reads a demo store made once beforehand in a temporary data directory
(``kbx db upgrade``, ``kbx demo seed --persons 5000 --seed 1``, ``kbx demo story``) on SQLite:
every ``KBX_`` variable of the caller's environment is left out but ``KBX_DATA_DIR``, so neither
a configured database nor ``KBX_TODAY`` is used.

    .venv/bin/python -m bench.cli_startup [--runs 10] [--persons 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable
KBX = str(Path(sys.executable).parent / "kbx")
TARGETS = {"kbx --help": 0.3, "kbx export list": 1.0}


@dataclass
class Command:
    label: str
    argv: list[str]
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr}")
    return seconds


def _demo_store(env: dict[str, str], persons: int) -> None:
    started = time.perf_counter()
    for args in (
        ["db", "upgrade"],
        ["demo", "seed", "--persons", str(persons), "--seed", "1"],
        ["demo", "story"],
    ):
        _run([KBX, *args], env)
    print(
        f"demo store: {persons:,} persons and the demo story in {env['KBX_DATA_DIR']}, "
        f"made in {time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--persons", type=int, default=5000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kbx-cli-startup-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
        env["KBX_DATA_DIR"] = tmp
        _demo_store(env, args.persons)

        commands = [
            Command("python -c pass", [PYTHON, "-c", "pass"]),
            Command("kbx --help", [KBX, "--help"]),
            Command("kbx export list --help", [KBX, "export", "list", "--help"]),
            Command("kbx export list", [KBX, "export", "list"]),
        ]
        for command in commands:  # warm-up, not counted
            _run(command.argv, env)
        for _ in range(args.runs):
            for command in commands:
                command.seconds.append(_run(command.argv, env))

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.runs} starts each, taking turns; load average {load}; {PYTHON}")
    baseline = commands[0].median
    print(f"{'command':<24} {'median':>8} {'min':>8} {'max':>8} {'x python':>9}  target")
    for c in commands:
        target = TARGETS.get(c.label)
        verdict = (
            f"<= {target:.1f} s {'PASS' if c.median <= target else 'MISS'}"
            if target is not None
            else ""
        )
        print(
            f"{c.label:<24} {c.median:>7.3f}s {min(c.seconds):>7.3f}s {max(c.seconds):>7.3f}s "
            f"{c.median / baseline:>8.1f}x  {verdict}"
        )


if __name__ == "__main__":
    main()

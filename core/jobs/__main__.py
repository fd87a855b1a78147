"""``python -m core.jobs run JOB_ID [--limits compute=1,data=1]`` (the worker), or ``... list``."""

from __future__ import annotations

import os
import sys

from core.cli import Parser
from core.jobs.runner import REGISTRY_ENV, default_limits
from core.jobs.worker import run_job
from core.store.paths import check_name
from core.store.registry import Registry


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 when the job ended done or cancelled, else 1."""
    parser = Parser(prog="python -m core.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one queued job (started by JobRunner.submit)")
    run.add_argument("job_id")
    run.add_argument("--limits", default="", help="slot limits, e.g. compute=1,data=1")
    sub.add_parser("list", help="list jobs")
    args = parser.parse_args(argv)
    registry = Registry(os.environ.get(REGISTRY_ENV) or None)
    if args.command == "list":
        for job in registry.list_jobs():
            print(f"{job.id}  {job.kind:7s} {job.status:11s} {100 * job.fraction:5.1f}%  {job.message}")
        return 0
    limits = default_limits()
    for item in filter(None, args.limits.split(",")):
        key, _, value = item.partition("=")
        limits[key] = int(value)
    status = run_job(check_name(args.job_id, "job id"), registry, limits)
    return 0 if status in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())

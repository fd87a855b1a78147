"""``python -m core.jobs`` : ``list``, ``resume JOB_ID [--epochs N]``, ``cancel JOB_ID``, and
``run JOB_ID [--limits compute=1,data=1]`` (the worker, started by JobRunner.submit)."""

from __future__ import annotations

import os
import sys

from core.cli import Parser
from core.jobs.runner import JobRunner, default_limits
from core.jobs.worker import run_job
from core.store.paths import check_name
from core.store.registry import REGISTRY_ENV, Registry


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 when the command worked (for ``run``: the job ended done or cancelled)."""
    parser = Parser(prog="python -m core.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one queued job (started by JobRunner.submit)")
    run.add_argument("job_id")
    run.add_argument("--limits", default="", help="slot limits, e.g. compute=1,data=1")
    sub.add_parser("list", help="list jobs (marking those whose worker is gone as interrupted)")
    resume = sub.add_parser("resume", help="continue an interrupted or cancelled training job's run")
    resume.add_argument("job_id")
    resume.add_argument("--epochs", type=int, default=None, help="new total epoch count")
    cancel = sub.add_parser("cancel", help="stop a job")
    cancel.add_argument("job_id")
    args = parser.parse_args(argv)
    registry = Registry(os.environ.get(REGISTRY_ENV) or None)
    if args.command == "run":
        limits = default_limits()
        for item in filter(None, args.limits.split(",")):
            key, _, value = item.partition("=")
            limits[key] = int(value)
        status = run_job(check_name(args.job_id, "job id"), registry, limits)
        return 0 if status in ("done", "cancelled") else 1
    runner = JobRunner(registry)
    try:
        if args.command == "list":
            for job in runner.list():
                line = f"{job.id}  {job.kind:7s} {job.status:11s} {100 * job.fraction:5.1f}%  {job.message}"
                if job.error and job.error not in job.message:
                    line += f"  error: {job.error}"
                print(line)
        elif args.command == "resume":
            print(runner.resume(check_name(args.job_id, "job id"), args.epochs))
        else:
            job = runner.cancel(check_name(args.job_id, "job id"))
            print(f"{job.id}  {job.status}  {job.error or job.message}")
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

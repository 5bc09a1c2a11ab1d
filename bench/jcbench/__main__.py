"""`python -m jcbench` (with PYTHONPATH=bench): run the benchmark; see bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from jcbench import PHASES, WEBHOOK_MODES
from jcbench.cluster import BENCH, BenchCluster
from jcbench.operator_proc import RECONCILE_ERRORS
from jcbench.report import render
from jcbench.source import operator_source

DEFAULT_OUT = Path.home() / ".cache/jupyter-containers/bench-results"


def _phases(value: str) -> tuple[str, ...]:
    phases = tuple(p for p in value.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown phase(s) {sorted(unknown)}; choose from {','.join(PHASES)}"
        )
    return phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jcbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one run at one N on the private cluster")
    run.add_argument("-n", type=int, required=True, help="number of containers")
    run.add_argument("--namespaces", type=int, default=10, help="domains (one bundle each)")
    run.add_argument(
        "--volume", action="store_true", help="containers with an On Demand PVC (kwok-volume)"
    )
    run.add_argument(
        "--webhooks",
        choices=WEBHOOK_MODES,
        default="installed",
        help="installed: configurations installed once, operator unmanaged (as the Helm chart); "
        "managed: the operator writes them (JC_WEBHOOK_MANAGED=true, local development); "
        "off: no admission webhooks",
    )
    run.add_argument(
        "--admission",
        choices=("own", "same"),
        default="own",
        help="own: admission in a process of its own beside the reconciler's (the chart's "
        "default, webhook.ownProcess); same: one process serves both (--role all); both are "
        "measured, CPU and memory per process",
    )
    run.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    run.add_argument("--idle-seconds", type=float, default=300)
    run.add_argument("--no-floor", action="store_true", help="skip the floor")
    run.add_argument("--phases", type=_phases, default=PHASES, help=",".join(PHASES))
    run.add_argument("--profile", type=_phases, default=(), help="py-spy these phases")
    run.add_argument(
        "--operator-ref",
        default=None,
        help="measure the operator of this git commit (default: this checkout's operator/)",
    )
    run.add_argument(
        "--operator-dir",
        type=Path,
        default=None,
        help="measure the jupyter_containers package in this directory (experiments)",
    )
    run.add_argument("--out", type=Path, default=None, help=f"default: {DEFAULT_OUT}/<time>-n<N>")
    report = sub.add_parser("report", help="print results.json files as Markdown")
    report.add_argument("results", type=Path, nargs="+")
    prof = sub.add_parser("profile", help="sum a py-spy speedscope profile by function")
    prof.add_argument("profile", type=Path)
    prof.add_argument("--top", type=int, default=25)
    split = sub.add_parser(
        "breakdown", help="split pod Ready -> Active into operator, API server and watch time"
    )
    split.add_argument("results_dir", type=Path)
    split.add_argument(
        "--phase", default="create", choices=("create", "start"), help="whose Ready -> Active"
    )
    split.add_argument(
        "--audit-log", type=Path, default=None, help="default: the private cluster's audit log"
    )
    sub.add_parser("down", help="delete the private cluster")
    args = parser.parse_args(argv)
    # SIGTERM as SystemExit, so the `finally` blocks stop the operator processes and the
    # watcher: by default a terminated run left them running against the next run's cluster.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))

    if args.command == "down":
        BenchCluster().down()
        return 0
    if args.command == "profile":
        from jcbench.profiles import render as render_profile

        print(render_profile(args.profile, args.top))
        return 0
    if args.command == "breakdown":
        from jcbench import breakdown

        audit_log = args.audit_log or BenchCluster().audit_log
        print(breakdown.render(breakdown.run(args.results_dir, audit_log, args.phase)))
        return 0
    if args.command == "report":
        print(render([json.loads(p.read_text()) for p in args.results]))
        return 0
    if args.n < 1 or args.namespaces < 1 or args.n < args.namespaces:
        parser.error("-n and --namespaces must be >= 1, and -n >= --namespaces")
    # The operator code to measure, for this process (floor objects come from its builders),
    # the watcher and the operator subprocesses alike.
    if args.operator_dir is not None:
        if not (args.operator_dir / "jupyter_containers").is_dir():
            parser.error(f"--operator-dir {args.operator_dir}: no jupyter_containers package in it")
        src, described = args.operator_dir.resolve(), f"dir:{args.operator_dir}"
    else:
        src, described = operator_source(args.operator_ref)
    sys.path.insert(0, str(src))
    os.environ["PYTHONPATH"] = f"{src}:{BENCH}"
    from jcbench.scenario import Options, Run

    out = args.out or DEFAULT_OUT / f"{time.strftime('%Y%m%d-%H%M%S')}-n{args.n}"
    out.mkdir(parents=True, exist_ok=True)
    opts = Options(
        n=args.n,
        namespaces=args.namespaces,
        volume=args.volume,
        webhooks=args.webhooks,
        admission=args.admission,
        concurrency=args.concurrency,
        idle_seconds=args.idle_seconds,
        floor=not args.no_floor,
        phases=args.phases,
        profile=args.profile,
        out=out,
    )
    cluster = BenchCluster()
    cluster.up()
    # Everything this process starts (operator, watcher, kubectl) talks to the private cluster.
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    nodes = cluster.ensure_nodes(args.n)
    cluster.install()
    bench = Run(cluster, opts)
    bench.results["options"]["bench_nodes"] = nodes
    bench.results["options"]["operator"] = described
    if opts.floor:
        asyncio.run(bench.floor())
    asyncio.run(bench.operator())
    print(render([bench.results]))
    print(f"results: {out / 'results.json'}", file=sys.stderr)
    errors = bench.results["operator"].get("reconcile_errors") or 0
    if errors:
        # A failed reconcile is a bug or an overload the numbers above would hide.
        print(
            f"FAILED: {errors:g} reconcile errors ({RECONCILE_ERRORS}, per operator process: "
            f"{bench.results['operator'].get('reconcile_errors_per_process')}); see the "
            f"operator logs in {out}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``lakejobs`` command, and the error handling every ``jobs/*.py`` entrypoint shares.

Library errors (:class:`LakejobsError`) become one line on stderr and a non-zero exit; anything
else is a bug or an infrastructure failure and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

from lakejobs.errors import LakejobsError


def run_entrypoint(job: str, argv: Sequence[str]) -> int:
    """Run job ``job`` with a Glue-style command line; what ``jobs/<job>.py`` calls."""
    _configure_logging()
    try:
        from lakejobs.registry import get_job
        from lakejobs.runtime import run_job

        outcome = run_job(get_job(job), argv)
    except LakejobsError as e:
        print(f"lakejobs: error: {e}", file=sys.stderr)
        return e.exit_code
    r = outcome.result
    print(
        f"{job}: run {outcome.run_id} succeeded: {r.rows_read} rows read, {r.rows_written} "
        f"written, {r.rows_quarantined} quarantined {json.dumps(dict(r.summary), default=str)}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lakejobs`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if args[:1] == ["run"]:
        if len(args) < 2 or args[1].startswith("-"):
            parser.error("run: expected a job name (see 'lakejobs list')")
        return run_entrypoint(args[1], [f"lakejobs run {args[1]}", *args[2:]])
    ns = parser.parse_args(args)
    try:
        return ns.handler(ns)
    except LakejobsError as e:
        print(f"lakejobs: error: {e}", file=sys.stderr)
        return e.exit_code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakejobs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    sub.add_parser(
        "run", help="run a job: lakejobs run JOB --JOB_NAME NAME --env ENV [--config PATH] ..."
    )
    sub.add_parser("list", help="list the jobs and their arguments").set_defaults(handler=_list)
    config = sub.add_parser("config", help="show the resolved configuration of an environment")
    config.add_argument("--env", required=True)
    config.add_argument("--config", help="config file instead of the bundled conf/<env>.yaml")
    config.set_defaults(handler=_config)
    submit = sub.add_parser(
        "submit-args", help="spark-submit options for local runs: connector jars by coordinates"
    )
    submit.set_defaults(handler=_submit_args)
    glue_job = sub.add_parser(
        "glue-job", help="an AWS Glue job definition (CreateJob JSON) from conf/glue/jobs.yaml")
    glue_job.add_argument("job")
    glue_job.add_argument("--stack", default="glue6", help="glue6 (Glue 6.0) or glue5 (Glue 5.1)")
    glue_job.add_argument("--artifacts", required=True,
                          help="s3:// prefix holding jobs/<job>.py and the lakejobs wheel")
    glue_job.add_argument("--role", required=True, help="IAM role the job runs as")
    glue_job.set_defaults(handler=_glue_job)
    sub.add_parser(
        "glue-docs", help="the Glue job definitions as Markdown (docs/glue-jobs.md)"
    ).set_defaults(handler=_glue_docs)
    docs = sub.add_parser("docs", help="write the generated reference pages (docs/*.md)")
    docs.add_argument("--out", default="docs", help="folder to write them to")
    docs.set_defaults(handler=_docs)
    demo = sub.add_parser(
        "demo", help="generate the retail demo data and run it through every stage")
    demo.add_argument("--env", default="dev")
    demo.add_argument("--config", help="config file instead of the bundled conf/<env>.yaml")
    demo.add_argument("--customers", type=int, default=200, help="size of the data set")
    demo.add_argument("--kafka", metavar="HOST:PORT",
                      help="stream through this Kafka broker (default: the config's bootstrap "
                      "servers if a broker answers there, else record files)")
    demo.set_defaults(handler=_demo)
    return parser


def _list(_: argparse.Namespace) -> int:
    from lakejobs.registry import all_jobs

    for spec in all_jobs().values():
        required = " ".join(f"--{a} VALUE" for a in spec.required_arguments)
        optional = " ".join(f"[--{a} VALUE]" for a in spec.optional_arguments)
        print(f"{spec.name}: {spec.summary}\n    {required} {optional}")
    return 0


def _config(ns: argparse.Namespace) -> int:
    import yaml

    from lakejobs.config import load_settings

    settings = load_settings(ns.env, ns.config)
    print(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def _submit_args(_: argparse.Namespace) -> int:
    from lakejobs.config import SparkSettings
    from lakejobs.session import JIT_OPTION, local_session_conf

    conf = local_session_conf(SparkSettings())
    options = ["--packages", conf["spark.jars.packages"], "--conf", f"spark.jars.ivy={conf['spark.jars.ivy']}"]
    # the driver JVM starts before any code of the job runs: its JIT option goes on the command
    # line (one word without spaces, as the output is used unquoted: $(lakejobs submit-args))
    options.append(f"--driver-java-options={JIT_OPTION}")
    if conf["spark.jars.excludes"]:
        options += ["--exclude-packages", conf["spark.jars.excludes"], "--jars", conf["spark.jars"]]
    print(" ".join(options))
    return 0


def _glue_job(ns: argparse.Namespace) -> int:
    from lakejobs.__about__ import __version__
    from lakejobs.deploy import load_glue_jobs, render_glue_job

    definition = render_glue_job(load_glue_jobs(), ns.job, stack=ns.stack,
                                 artifacts=ns.artifacts, role=ns.role, version=__version__)
    print(json.dumps(definition, indent=2, ensure_ascii=False))
    return 0


def _glue_docs(_: argparse.Namespace) -> int:
    from lakejobs.deploy import glue_jobs_markdown, load_glue_jobs

    print(glue_jobs_markdown(load_glue_jobs()), end="")
    return 0


def _docs(ns: argparse.Namespace) -> int:
    from pathlib import Path

    from lakejobs.docs import write_pages

    for path in write_pages(Path(ns.out)):
        print(path)
    return 0


def _demo(ns: argparse.Namespace) -> int:
    from lakejobs.demo import run_demo

    _configure_logging(logging.WARNING)  # the demo reports its own progress
    started = time.monotonic()
    summary = run_demo(ns.env, config=ns.config, customers=ns.customers, kafka=ns.kafka,
                       report=lambda line: print(line, flush=True))
    print("\n".join(summary.lines()))
    print(f"demo finished in {time.monotonic() - started:.0f}s")
    return 0


def _configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())

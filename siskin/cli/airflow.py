"""`siskin airflow`: a local Airflow with the project's DAGs; `siskin airflow test DAG`: a run in-process."""

from __future__ import annotations

import argparse
import json
import signal
import time
from typing import Any


def _settings(args: argparse.Namespace) -> Any:
    from siskin.cli.main import _settings as settings_from_args

    return _with_airflow_flags(settings_from_args(args), args)


def _with_airflow_flags(settings: Any, args: argparse.Namespace) -> Any:
    changes = {k: v for k, v in (("port", args.port), ("home", args.home)) if v is not None}
    if not changes:
        return settings
    return settings.with_overrides(airflow=settings.airflow.model_copy(update=changes))


def cmd_airflow_start(args: argparse.Namespace) -> int:
    from siskin.orchestration import serve
    from siskin.orchestration.local import prepare

    settings = _settings(args)
    local = prepare(settings)
    print(f"airflow home {local.home}; metadata database migrating...", flush=True)
    serve.migrate(local)
    running = serve.start(local)
    stopping = {"flag": False}

    def handler(signum: int, frame: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        serve.wait_healthy(running)
        print(f"\nAirflow UI: {local.url}   (DAGs: {local.env['AIRFLOW__CORE__DAGS_FOLDER']})")
        for user, password in local.passwords.items():
            print(f"  user {user!r} ({settings.airflow.users[user]}): password {password}")
        print(f"  passwords are kept in {local.passwords_file} (delete it to generate new ones)")
        print(f"  logs: {local.home / 'logs'}; Ctrl-C stops Airflow", flush=True)
        while not stopping["flag"]:
            for name in running.restart_dead():
                print(f"airflow {name} exited; started it again (log: {local.home / 'logs'})", flush=True)
            time.sleep(1.0)
        return 0
    finally:
        print("stopping airflow...", flush=True)
        running.stop()


def cmd_airflow_test(args: argparse.Namespace) -> int:
    from siskin.orchestration import dag_test

    settings = _settings(args)
    conf = json.loads(args.conf) if args.conf else {}
    if args.night is not None:
        conf["night"] = args.night
    dag_test.configure(settings)
    dag_test.init_db()
    print(json.dumps(dag_test.run_dag(args.dag, conf)))
    return 0


def add_commands(sub: Any) -> None:
    """Register `siskin airflow` (start the UI, scheduler and DAG processor) and `siskin airflow test`."""
    p = sub.add_parser(
        "airflow", help="Airflow with the project's DAGs on 127.0.0.1 (generated passwords, printed)"
    )
    p.add_argument("--port", type=int, help="UI/API port (default: airflow.port, 8080)")
    p.add_argument("--home", help="Airflow state folder (default: airflow.home, else <lake>/_airflow)")
    p.set_defaults(func=cmd_airflow_start)
    actions = p.add_subparsers(dest="airflow_command")
    t = actions.add_parser("test", help="run one DAG once in this process (dag.test), e.g. nightly --night N")
    t.add_argument("dag", help="DAG id: nightly, catalogs, ...")
    t.add_argument("--night", type=int, help="YYYYMMDD (the DAG's `night` parameter)")
    t.add_argument("--conf", help="the run's configuration as JSON")
    t.add_argument("--port", type=int, help=argparse.SUPPRESS)
    t.add_argument("--home", help="Airflow state folder (default: airflow.home, else <lake>/_airflow)")
    t.set_defaults(func=cmd_airflow_test)

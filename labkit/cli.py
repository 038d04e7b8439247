"""`labkit`: the command line for learners and instructors.

argparse (standard library) rather than click/typer: a handful of subcommands does not
justify another dependency in every learner's environment.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from labkit import config, labs, locks, shell

# cleanup (the Docker SDK) and notebooks (nbformat: 4 s on a busy 2-core machine) are imported by the
# commands that use them: `labkit wait` runs in the labs' cells and must start in about a second.
from labkit.errors import LabError


def cmd_doctor(args) -> int:
    from labkit import preflight

    return _print_findings(preflight.run())


def _print_findings(findings) -> int:
    worst = 0
    for f in findings:
        mark = "✔" if f.ok else ("✘" if f.required else "!")
        print(f"{mark} {f.name:34} {f.detail}")
        if f.fix and (not f.ok or "first use" in f.detail):
            print(f"  {'':34} fix: {f.fix}")
        if not f.ok and f.required:
            worst = 1
    if worst:
        print("Not ready yet: fix the ✘ lines above.")
    elif all(f.ok for f in findings):
        print("Ready for the labs.")
    else:
        print("Ready for the labs, except what the ! lines above say.")
    return worst


def cmd_check(args) -> int:
    os.environ["LABKIT_HEADLESS"] = "1"
    from labkit.lab import Lab

    lab = Lab(labs.get(args.lab))
    # What every check needs, asked once: a daemon (or cluster) that is down is one sentence, not
    # the same sentence under each check. Raises LabError, which main() prints.
    from labkit import daemon

    daemon.client()
    if lab.info.cluster:
        from labkit import cluster

        cluster.kubeconfig(refresh=True)
    results = lab.check_all(raise_on_fail=False)
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_clean(args) -> int:
    from labkit import cleanup

    targets = [None] if args.all else [labs.get(args.lab).id]
    for lab_id in targets:
        print(f"{'course' if lab_id is None else 'lab ' + lab_id}: {cleanup.remove(lab_id)}")
    return 0


def cmd_leftovers(args) -> int:
    from labkit import cleanup

    left = {k: v for k, v in cleanup.leftovers(None if args.lab is None else labs.get(args.lab).id).items() if v}
    for kind, names in left.items():
        print(f"{kind}: {', '.join(names)}")
    if not left:
        print("nothing labelled by the course is left")
    return 1 if left else 0


def cmd_reset(args) -> int:
    from labkit import cleanup, notebooks

    lab = labs.get(args.lab)
    print(f"lab {lab.id}: {cleanup.remove(lab.id)}")
    workdir = config.workspace_root() / lab.slug
    if workdir.exists():
        shutil.rmtree(workdir)
        print(f"removed {workdir}")
    path, what = notebooks.write_learner(lab, overwrite=True)
    print(f"fresh learner notebook: {path} (your previous copy is in {path.parent / '.backups'})")
    return 0


def cmd_learner(args) -> int:
    from labkit import notebooks

    for lab in labs.LABS.values():
        path, what = notebooks.write_learner(lab, overwrite=args.force)
        print(f"{what:8} {path}")
    print(f"JupyterLab settings: {notebooks.write_jupyterlab_settings()}")
    return 0


def cmd_images(args) -> int:
    from labkit import catalogue, daemon
    from labkit.provision import images

    if args.action == "build":
        images.build_all(force=args.force, refs=args.build_refs or None)
        return 0
    if args.refs:  # for `docker save $(labkit images --refs)`
        print(" ".join(img.ref for img in catalogue.CATALOGUE))
        return 0
    for img in catalogue.CATALOGUE:
        state = ("offline build" if daemon.built_offline(img.ref)
                 else "official" if daemon.present(img.ref) else "absent")
        print(f"{img.ref:32} {state:14} labs {','.join(img.labs):10} {img.purpose}")
    return 0


def cmd_wheels(args) -> int:
    from labkit import wheels

    for app in sorted(p for p in config.APPS.iterdir() if (p / "requirements.txt").exists()):
        print(f"{app.name}: {wheels.ensure(app)}")
    return 0


def cmd_tools(args) -> int:
    from labkit import tools

    if args.only == "kube-score":  # lab 11's set-up: the auditor alone (the build stays out of the lab's kernel)
        found = tools.ensure_kube_score()
        print(f"kube-score: {found or 'not available'}")
        return 0 if found else 1
    failed = 0
    for name in ("docker-compose", "kind", "kubectl"):
        try:
            origin = tools.ensure(name)
        except LabError as err:
            print(f"{name}: {err.problem}\n  fix: {err.fix}")
            failed = 1
            continue
        print(f"{name}: {origin.path}: {origin.describe()}")
    return failed


def _another(doing: str):
    return lambda pid: print(f"another `labkit cluster` (pid {pid}) is {doing} the course cluster: waiting for it", flush=True)


def cmd_cluster(args) -> int:
    from labkit import cluster
    from labkit.provision import addons, node_image
    from labkit import cluster_parts as parts

    if args.action == "build":
        times = node_image.build_all(force=args.force)
        print("offline cluster artefacts ready: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
        if args.export:
            print(f"archive for classrooms: {node_image.export(args.export)}")
    elif args.action == "up":
        with locks.held(locks.CLUSTER_UP, _another("creating")):
            if cluster.create(on_created=addons.apply) == "created":
                addons.make_work()
            else:
                addons.install()
        print(f"cluster {parts.CLUSTER_NAME} ready (context {parts.CONTEXT}); kubeconfig for the labs: "
              f"{cluster.kubeconfig()}")
    elif args.action == "down":
        cluster.delete()
    elif args.action == "repair":
        began = time.monotonic()
        with locks.held(locks.CLUSTER_UP, _another("repairing")):
            how = cluster.repair()
            if how == "recreated":
                addons.install()
        print(f"cluster {parts.CLUSTER_NAME} {how} in {time.monotonic() - began:.0f} s; kubeconfig for the labs: "
              f"{cluster.kubeconfig()}")
    elif args.action == "load":
        for ref in args.images:
            cluster.load_images(ref)
    else:  # status
        from labkit import preflight

        return _print_findings(preflight.cluster_findings())
    return 0


def cmd_wait(args) -> int:
    """`labkit wait KIND/NAME`: kubectl wait / rollout status that stops at once when waiting cannot help."""
    from labkit import cluster, kube, waits

    lab_id = os.environ.get("LAB", "")
    namespace = args.namespace or os.environ.get("NS") or kube.namespace_of(lab_id)
    api = kube.Kube(lab_id)
    written = os.environ.get("KUBECONFIG", "")
    if written and written == str(cluster.kubeconfig_path()) and os.path.exists(written):
        # A lab's kernel wrote it for the course cluster (lab.shell_env): reading it again through kind
        # would cost two more seconds per wait.
        from kubernetes import config as kconfig

        api.client = kconfig.new_client_from_config(config_file=written)
    print(f"{args.target} ready: {waits.wait(api, args.target, args.timeout, namespace)}")
    return 0


def cmd_audit(args) -> int:
    """`labkit audit FILE|NAMESPACE`: the production-readiness audit (labkit.audit) of a manifest file, or of
    what a namespace of the course cluster holds. Exit 1 when something critical is found."""
    from labkit import audit, tools
    from labkit import cluster_parts as parts

    target = Path(args.target)
    if target.is_file():
        objects = audit.from_yaml(target.read_text())
        what = str(target)
    elif target.suffix in (".yaml", ".yml", ".json") or "/" in args.target:
        raise LabError(f"There is no file {args.target}.", "give a manifest file, or the name of a namespace.")
    else:
        from labkit.cluster_addons import kubectl

        objects = audit.from_namespace(args.target, kubectl)
        what = f"namespace {args.target} (on the course cluster)"
    if not objects:
        raise LabError(f"{what} holds no Kubernetes objects to audit.", "give a manifest file with objects in it, "
                       "or a namespace that has workloads.")
    binary = None if args.no_kube_score else tools.ensure_kube_score()
    version = ".".join(parts.K8S_VERSION.lstrip("v").split(".")[:2])
    findings = audit.audit(objects, version, binary, ignore=tuple(args.ignore))
    print(f"audit of {what}: {len(objects)} objects, schema of Kubernetes {version}, the chapter's checklist"
          + (", kube-score" if binary else ""))
    print(audit.report(findings, binary is not None))
    return 1 if audit.counts(findings)[audit.CRITICAL] else 0


def cmd_progress(args) -> int:
    from labkit import board_client, journal

    states = journal.states()
    if not states:
        print("No check run yet: run a lab's check cells, and each result is recorded here.")
    for lab_id, info in labs.checks_by_lab().items():
        tried = {check: states[(lab_id, check)] for check in info["checks"] if (lab_id, check) in states}
        if not tried and not args.all:
            continue
        passed = [s for s in tried.values() if s.passed]
        spent = (max(s.last for s in tried.values()) - min(s.first for s in tried.values())) if tried else 0
        print(f"Lab {lab_id} {info['title']}: {len(passed)}/{len(info['checks'])} checks passed"
              + (f", {spent / 60:.0f} min from first try to last result" if tried else ""))
        for check, title in info["checks"].items():
            s = tried.get(check)
            if s is None:
                print(f"  · {check:24} not tried yet")
            elif s.passed:
                print(f"  ✔ {check:24} passed ({s.tries} {'try' if s.tries == 1 else 'tries'})")
            else:
                print(f"  ✘ {check:24} not yet ({s.tries} {'try' if s.tries == 1 else 'tries'}): {s.hint[:100]}")
    joined = board_client.membership()
    if joined:
        sent, why = board_client.send_pending(joined)
        waiting = len(journal.unsent())
        print(f"Class board: {joined['url']} as {joined['student']}"
              + (f"; {sent} results sent now" if sent else "")
              + (f"; {waiting} waiting to be sent ({why})" if waiting else "; everything sent"))
    return 0


def cmd_join(args) -> int:
    from labkit import board_client

    joined = board_client.join(args.url, args.code)
    sent, why = board_client.send_pending(joined)
    print(f"Joined the class board at {joined['url']} as {joined['student']}: each check you run is sent there "
          f"too ({sent} earlier results sent now{'; ' + why if why else ''}). `labkit leave` stops it.")
    return 0


def cmd_leave(args) -> int:
    from labkit import board_client

    print("Left the class board: results stay on this machine only." if board_client.leave()
          else "No class board joined.")
    return 0


def cmd_board(args) -> int:
    from labkit.board import app, auth, store

    url = args.db or os.environ.get("LABKIT_BOARD_DB") or store.sqlite_url(config.data_dir() / "board.sqlite")
    config.data_dir().mkdir(parents=True, exist_ok=True)
    engine = store.open_engine(url)
    students, instructor = auth.JoinTokens(engine), auth.Instructor(engine)
    if args.hours or (args.action == "add" and store.get_setting(engine, "ends_at") is None):
        # Tokens expire when the class ends: 12 hours after the first students were added, unless said.
        store.set_setting(engine, "ends_at", str(time.time() + (args.hours or 12) * 3600))
        print(f"the class ends in {args.hours or 12:g} hours: its tokens expire then (--hours to change)")
    if args.action == "add":
        if not args.names:
            raise LabError("Name the students to add.", "e.g. `labkit board add alice bob`.")
        for name in args.names:
            print(f"{name:20} join code {students.issue_code(name)}")
        print("Each student runs once: labkit join http://<this machine>:<port> <their code>")
    elif args.action == "revoke":
        for name in args.names:
            print(f"{name}: {'revoked' if students.revoke(name) else 'no such student'}")
    elif args.action == "password" or (args.action == "serve" and not instructor.has_password()):
        import secrets

        password = os.environ.get("LABKIT_BOARD_PASSWORD") or secrets.token_urlsafe(12)
        instructor.set_password(password)
        print(f"instructor's password: {password}")
    if args.action == "serve":
        engine.dispose()
        print(f"class board on http://{args.host}:{args.port}/ (database {url.split('@')[-1]})", flush=True)
        app.serve(url, args.host, args.port, args.title)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit", description="Containers & Orchestration labs toolkit")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check this machine is ready for the labs").set_defaults(func=cmd_doctor)
    s = sub.add_parser("check", help="run a lab's checks against the current state")
    s.add_argument("lab")
    s.set_defaults(func=cmd_check)
    s = sub.add_parser("clean", help="remove what a lab created (labelled resources only)")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("lab", nargs="?")
    g.add_argument("--all", action="store_true", help="every lab of the course")
    s.set_defaults(func=cmd_clean)
    s = sub.add_parser("leftovers", help="list labelled resources still present (exit 1 if any)")
    s.add_argument("lab", nargs="?")
    s.set_defaults(func=cmd_leftovers)
    s = sub.add_parser("reset", help="clean a lab and give it a fresh learner notebook (old one backed up)")
    s.add_argument("lab")
    s.set_defaults(func=cmd_reset)
    s = sub.add_parser("learner", help="generate learner notebooks into the workspace")
    s.add_argument("--force", action="store_true", help="regenerate existing copies (backed up first)")
    s.set_defaults(func=cmd_learner)
    s = sub.add_parser("images", help="list the image catalogue, or build its offline equivalents")
    s.add_argument("action", nargs="?", choices=["list", "build"], default="list")
    s.add_argument("build_refs", nargs="*", metavar="REF", help="for `build`: only these images (and their base)")
    s.add_argument("--force", action="store_true", help="rebuild offline images that exist")
    s.add_argument("--refs", action="store_true", help="print just the image references")
    s.set_defaults(func=cmd_images)
    s = sub.add_parser("cluster", help="the course's kind cluster: up, down, status, repair (after a Docker "
                                       "restart), load IMAGE..., build (offline node image, no registry)")
    s.add_argument("action", choices=["up", "down", "status", "repair", "load", "build"])
    s.add_argument("images", nargs="*", help="for `load`: local images to make available in the cluster")
    s.add_argument("--force", action="store_true", help="for `build`: rebuild what exists")
    s.add_argument("--export", metavar="DIR", help="for `build`: also write the node image as an archive to hand out")
    s.set_defaults(func=cmd_cluster)
    s = sub.add_parser("wait", help="wait until KIND/NAME is ready (pod, deployment, statefulset, pvc, gateway, hpa, vpa); "
                                    "stop at once when it cannot get there by waiting")
    s.add_argument("target", metavar="KIND/NAME")
    s.add_argument("-n", "--namespace", help="default: the lab's ($NS)")
    s.add_argument("--timeout", type=float, default=120, help="seconds (default 120)")
    s.set_defaults(func=cmd_wait)
    sub.add_parser("wheels", help="download the sample apps' wheelhouses").set_defaults(func=cmd_wheels)
    s = sub.add_parser("tools", help="find or install the tools the labs drive (Docker Compose v2, kind, kubectl; "
                                     "`labkit tools kube-score`: the auditor lab 11 uses)")
    s.add_argument("only", nargs="?", choices=["kube-score"], help="only this tool")
    s.set_defaults(func=cmd_tools)
    s = sub.add_parser("audit", help="production-readiness audit of a manifest file or a namespace: the chapter's "
                                     "checklist, kube-score, the schema of the cluster's Kubernetes version")
    s.add_argument("target", help="a manifest file (YAML or JSON), or a namespace of the course cluster")
    s.add_argument("--no-kube-score", action="store_true", help="leave kube-score out (no build, no binary)")
    s.add_argument("--ignore", action="append", default=[], metavar="TEST",
                   help="a kube-score test to leave out (repeatable), e.g. container-image-pull-policy")
    s.set_defaults(func=cmd_audit)
    s = sub.add_parser("progress", help="your own history: what passed, what is left, time per lab")
    s.add_argument("--all", action="store_true", help="list labs not started too")
    s.set_defaults(func=cmd_progress)
    s = sub.add_parser("join", help="send every check result to your class's board from now on")
    s.add_argument("url", help="the board's address, e.g. http://10.0.0.5:8765")
    s.add_argument("code", help="your join code from the instructor")
    s.set_defaults(func=cmd_join)
    sub.add_parser("leave", help="stop sending results to a class board").set_defaults(func=cmd_leave)
    s = sub.add_parser("board", help="instructors: the class's live progress board (serve, add students, revoke, password)")
    s.add_argument("action", choices=["serve", "add", "revoke", "password"])
    s.add_argument("names", nargs="*", help="for add and revoke: student names")
    s.add_argument("--db", help="database URL (default: SQLite in workspace/.labkit; PostgreSQL: "
                                "postgresql+psycopg://user:pass@host/db; or LABKIT_BOARD_DB)")
    s.add_argument("--host", default="0.0.0.0", help="for serve: the address to listen on (default: all)")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--title", default="Class board")
    s.add_argument("--hours", type=float, help="the class ends this many hours from now: tokens expire then (default: 12 h after the first `add`)")
    s.set_defaults(func=cmd_board)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except LabError as err:
        print(f"{shell.LABKIT_ERROR}{err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `labkit images | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""Lab 04 checks: the Compose stack (api, postgres, redis, nginx), read from the daemon and the services."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import requests
import yaml

from labkit import daemon, progress
from labkit.checks import CheckFailed, Checks, require
from labkit.errors import LabError
from labkit.ownership import compose_project

checks = Checks()
PROXY = "http://localhost:8080"
IMAGE = "course/api:lab04"
VISITS = 5  # the calls exercise 2 makes
STARTING = 20  # seconds a just-started nginx may take to listen (see through_proxy)
# The names Compose looks for in a folder, in its order of precedence; the override file it adds by itself.
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE = "compose.override.yaml"


def containers(lab, service: str) -> list:
    """The running containers of one service of the lab's Compose project."""
    f = {"label": [f"com.docker.compose.project={compose_project(lab.id)}", f"com.docker.compose.service={service}"]}
    found = daemon.client().containers.list(filters=f)
    require(found, f"no running container of the {service} service (project {compose_project(lab.id)}).",
            "run `docker compose up -d --wait` in the lab folder (the exercise cell does).")
    return found


def psql(lab, sql: str) -> str:
    ctr = containers(lab, "postgres")[0]
    code, out = daemon.exec_text(ctr, ["psql", "-U", "postgres", "-d", "myapp", "-tAc", sql])
    if code != 0 and "does not exist" in out:
        require(False, f"the database was never initialised from init.sql: {out.strip().splitlines()[-1][:160]}",
                "mount `./init.sql:/docker-entrypoint-initdb.d/init.sql:ro` in the postgres service, then "
                "`docker compose down -v` and `docker compose up -d --wait`: postgres runs init scripts only "
                "on an empty data volume, so the existing one must go.")
    require(code == 0, f"psql failed in the postgres container: {out[-200:]}",
            "check `docker compose logs postgres`; the database must be initialised from init.sql.")
    return out.strip()


def redis_get(lab, key: str) -> str:
    ctr = containers(lab, "redis")[0]
    code, out = daemon.exec_text(ctr, ["redis-cli", "get", key])
    require(code == 0, f"redis-cli failed: {out[-200:]}", "check `docker compose logs redis`.")
    return out.strip()


def _get():
    try:
        return requests.get(PROXY + "/", timeout=5)
    except requests.RequestException:
        return None


def _starting_for() -> float:
    """Seconds until the running nginx container has been up STARTING seconds (0: older, or none): right
    after `docker compose restart nginx` its entrypoint runs before nginx listens, longer on a busy machine."""
    f = {"label": [f"com.docker.compose.project={compose_project('04')}", "com.docker.compose.service=nginx"]}
    now = datetime.now(timezone.utc)
    return max([0.0] + [STARTING - (now - daemon.parse_time(c.attrs["State"]["StartedAt"])).total_seconds()
                        for c in daemon.client().containers.list(filters=f)])


def through_proxy(n: int) -> list[dict]:
    """n answers of GET / through nginx; a failure says what to look at. An nginx started seconds ago
    is given until it has been up STARTING seconds to accept its first connection."""
    answers = []
    for i in range(n):
        r = _get()
        if r is None and i == 0 and _starting_for() > 0:
            progress.wait_until(lambda: (_get() is not None or _starting_for() <= 0, "nginx starting"),
                                what="nginx to accept connections", timeout=STARTING, interval=0.5)
            r = _get()
        if r is not None and r.status_code in (502, 504):
            # nginx resolved `api` once, at its start: containers recreated since have other addresses.
            raise CheckFailed(f"nginx answers {r.status_code}: it still sends requests to api addresses that "
                              "no longer exist (the api containers were recreated after nginx started).",
                              "`docker compose restart nginx` so it resolves the current api containers.")
        if r is None or r.status_code != 200:
            raise LabError(f"{PROXY}/ did not answer 200 ({'no connection' if r is None else r.status_code}).",
                           "nginx must publish 8080:80 and proxy to the api service; see `docker compose logs nginx`.")
        answers.append(r.json())
    return answers


def spread(n: int = 30):
    """Which replica answered each of n requests through nginx, as a bar chart."""
    from labkit.plots import stacked_bars

    counts = Counter(a["hostname"] for a in through_proxy(n))
    return stacked_bars(list(counts), {"requests": list(counts.values())}, ylabel="requests",
                        title=f"{n} requests through nginx, by the replica that answered")


@checks("healthy", "The stack is up the current way: healthy services, ordered start, own network, named volumes")
def healthy(lab):
    path = next((lab.workdir / name for name in COMPOSE_FILES if (lab.workdir / name).exists()), None)
    require(path is not None, "there is no compose.yaml in the lab folder.", "run the %%writefile cell of exercise 1.")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        said = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        require(False, f"compose.yaml is not valid YAML{where}: {said}.",
                f"look at {'line ' + str(mark.line + 1) if mark else 'the file'} and the one above it: indent "
                "with spaces, never tabs, and line up keys of the same level; then rerun the %%writefile cell.")
    require(isinstance(spec, dict) and spec.get("services"), "compose.yaml defines no services.",
            "write the four services of exercise 1 under a top-level `services:` key.")
    require("version" not in spec, "compose.yaml still has a top-level `version:` key.",
            "delete it: Compose v2 ignores it and warns that it is obsolete.")
    for service in ("api", "postgres", "redis"):
        for ctr in containers(lab, service):
            require(daemon.health(ctr) == "healthy", f"{ctr.name} is {daemon.health(ctr) or 'without a healthcheck'}.",
                    f"give {service} a healthcheck (see the table above) and wait for it: `docker compose up -d --wait`.")
    containers(lab, "nginx")
    api = containers(lab, "api")[0]
    # Both the file and the running container: Compose does not recreate a running container when only
    # depends_on changed, so the label alone can describe an older file.
    depends = api.labels.get("com.docker.compose.depends_on", "")
    declared = ((spec["services"].get("api") or {}).get("depends_on")) or {}
    for dep in ("postgres", "redis"):
        in_file = isinstance(declared, dict) and (declared.get(dep) or {}).get("condition") == "service_healthy"
        require(in_file and f"{dep}:service_healthy" in depends,
                f"api does not wait for {dep} to be healthy (depends_on in compose.yaml: {declared or 'none'}; "
                f"on the running container: {depends or 'none'}).",
                f"under api, `depends_on: {{{dep}: {{condition: service_healthy}}}}` (the short list form only "
                "waits for the container to start); then `docker compose up -d --wait --force-recreate api`.")
    nets = api.attrs["NetworkSettings"]["Networks"]
    require(f"{compose_project(lab.id)}_app-network" in nets, f"api is attached to {', '.join(nets)}, not app-network.",
            "declare `networks: {app-network: {driver: bridge}}` and attach every service to it.")
    pg = containers(lab, "postgres")[0]
    mounts = {m.get("Name"): m["Destination"] for m in pg.attrs["Mounts"] if m["Type"] == "volume"}
    require(any(m["Destination"].startswith("/docker-entrypoint-initdb.d") for m in pg.attrs["Mounts"]),
            "postgres has nothing mounted in /docker-entrypoint-initdb.d, so init.sql never creates the visits table.",
            "mount `./init.sql:/docker-entrypoint-initdb.d/init.sql:ro`, then `docker compose down -v` and "
            "`up -d --wait` (init scripts run only on an empty data volume).")
    require(mounts.get(f"{compose_project(lab.id)}_postgres-data") == "/var/lib/postgresql/data",
            "postgres does not keep its data in the named volume postgres-data.",
            "mount `postgres-data:/var/lib/postgresql/data` and declare postgres-data under `volumes:`.")
    return "api, postgres and redis healthy; api waits for healthy dependencies; app-network and named volumes in use."


@checks("backends", "The API really uses PostgreSQL and Redis")
def backends(lab):
    rows = int(psql(lab, "SELECT count(*) FROM visits WHERE source = 'api'") or 0)
    hits = redis_get(lab, "visits")
    count = int(hits) if hits.isdigit() else 0
    require(rows >= VISITS and count >= VISITS,
            f"postgres has {rows} visit rows from the api and redis counts {hits or 'nothing'}; "
            f"the exercise makes {VISITS} calls.",
            f"call http://localhost:8080/visits {VISITS} times (the exercise cell), then check again.")
    require(rows == count, f"postgres has {rows} api visits but redis counts {count}: something wrote to one "
            "store without going through the API.", "let the API do the writing: call /visits, not psql or redis-cli.")
    # Through the proxy: nginx logs every request it passes on (its access log is its stdout).
    proxied = sum(" /visits" in line and '"GET' in line
                  for line in containers(lab, "nginx")[0].logs().decode(errors="replace").splitlines())
    require(proxied >= VISITS, f"nginx passed on {proxied} request(s) for /visits: the visits did not come "
            "through the proxy.", f"send them to nginx, the stack's front door on {PROXY}, not to a service behind it.")
    return f"{rows} rows written to postgres, redis counter at {hits}, {proxied} visits through nginx."


@checks("persist", "Data in the named volume survived `docker compose down` and `up`")
def persist(lab):
    pg = containers(lab, "postgres")[0]
    created = daemon.created_epoch(pg)
    oldest = psql(lab, "SELECT coalesce(extract(epoch FROM min(at)), 0) FROM visits WHERE source = 'api'")
    require(float(oldest or 0) > 0, "there are no visits from the api in postgres.",
            "call /visits, then `docker compose down` without -v (-v deletes the named volumes, and the data "
            "with them) and `docker compose up -d --wait`.")
    require(float(oldest) < created,
            "the postgres container is older than the data: the stack was not taken down and up since the visits.",
            "run `docker compose down` (without -v), then `docker compose up -d --wait`.")
    network = daemon.client().networks.get(f"{compose_project(lab.id)}_app-network")
    require(daemon.parse_time(network.attrs["Created"]).timestamp() > float(oldest),
            "the containers are new, but app-network is older than the data: the stack was recreated, not "
            "taken down.", "take the whole stack down (containers and networks, keeping the volumes), then up.")
    return "rows written before the postgres container was recreated are still there: the volume kept them."


@checks("scaled", "Three api replicas answer through nginx")
def scaled(lab):
    replicas = containers(lab, "api")
    require(len(replicas) == 3, f"{len(replicas)} api container(s) running, not 3.",
            "remove `container_name` and the host port from api, then `docker compose up -d --scale api=3 --wait`.")
    files = replicas[0].labels.get("com.docker.compose.project.config_files", "")
    require(OVERRIDE in files, f"the api replicas were made from {files or 'no file'} alone, without {OVERRIDE}.",
            f"leave compose.yaml as it is and put the changes for scaling in {OVERRIDE}, which Compose merges "
            "over it by itself.")
    seen = {a["hostname"] for a in through_proxy(30)}
    require(len(seen) == 3, f"nginx sent 30 requests to {len(seen)} replica(s).",
            "nginx resolved `api` when it started: `docker compose restart nginx` so it sees all three.")
    return f"30 requests spread over {len(seen)} replicas: {', '.join(sorted(seen))}."


@checks("rebuilt", "`docker compose up -d --build` rolled the code change out to every replica")
def rebuilt(lab):
    replicas = containers(lab, "api")
    require(len(replicas) == 3, f"{len(replicas)} api container(s) running after the rebuild, not 3.",
            "`docker compose up -d --build --scale api=3 --wait`: without --scale, `up` goes back to one replica.")
    answers = through_proxy(18)
    stale = sum("greeting" not in a for a in answers)
    require(stale == 0, f"{stale} of 18 answers came from the old code.",
            "`docker compose up -d --build --scale api=3 --wait` after the edit: --build makes the new image, "
            "`up` replaces the containers running the old one.")
    seen = {a["hostname"] for a in answers}
    require(len(seen) == 3, f"nginx sent 18 requests to {len(seen)} of the 3 replicas.",
            "`docker compose restart nginx` so it resolves all three new api containers.")
    return f"all 3 replicas answer with the new field: {answers[0]['greeting']!r}."


@checks("fresh", "`docker compose down -v` removed the volumes: a fresh, re-initialised database")
def fresh(lab):
    rows = psql(lab, "SELECT source, count(*) FROM visits GROUP BY source ORDER BY source")
    counts = dict(line.split("|") for line in rows.splitlines() if "|" in line)
    require(counts.get("api", "0") == "0" and redis_get(lab, "visits") in ("", "(nil)"),
            f"the old data is still there ({counts.get('api')} api visits in postgres).",
            "`docker compose down -v` removes the named volumes; then `docker compose up -d --wait`.")
    require(counts.get("init.sql") == "1", "init.sql did not run on the new volume.",
            "mount ./init.sql at /docker-entrypoint-initdb.d/init.sql in the postgres service.")
    # Emptied tables look like a new database, but init.sql's own row keeps the time the database was
    # initialised: a new volume has it after the rebuild of exercise 5. (The volume's CreatedAt is no
    # evidence: the local driver reports its folder's modification time, which every start changes.)
    initialised = float(psql(lab, "SELECT extract(epoch FROM min(at)) FROM visits WHERE source = 'init.sql'"))
    built = daemon.parse_time(daemon.image(IMAGE, "run the rebuild exercise first.").attrs["Created"]).timestamp()
    require(initialised > built,
            "the database was initialised before the rebuild of exercise 5: it is the old volume, with its rows "
            "deleted, not a new one.",
            "`docker compose down -v` removes the named volumes; then `docker compose up -d --wait`.")
    return "postgres was re-initialised from init.sql and redis starts empty: the volumes were new."

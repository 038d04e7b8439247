"""Lab 04 checks: the Compose stack (api, postgres, redis, nginx), read from the daemon and the services."""
from __future__ import annotations

from collections import Counter

import requests
import yaml

from labkit import daemon
from labkit.checks import Checks, require
from labkit.errors import LabError
from labkit.ownership import compose_project

checks = Checks()
PROXY = "http://localhost:8080"


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
    require(code == 0, f"psql failed in the postgres container: {out[-200:]}",
            "check `docker compose logs postgres`; the database must be initialised from init.sql.")
    return out.strip()


def redis_get(lab, key: str) -> str:
    ctr = containers(lab, "redis")[0]
    code, out = daemon.exec_text(ctr, ["redis-cli", "get", key])
    require(code == 0, f"redis-cli failed: {out[-200:]}", "check `docker compose logs redis`.")
    return out.strip()


def through_proxy(n: int) -> list[dict]:
    """n answers of GET / through nginx; a failure says what to look at."""
    answers = []
    for _ in range(n):
        try:
            r = requests.get(PROXY + "/", timeout=5)
        except requests.RequestException:
            r = None
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
    path = lab.workdir / "compose.yaml"
    require(path.exists(), "there is no compose.yaml in the lab folder.", "run the %%writefile cell of exercise 1.")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        require(False, f"compose.yaml is not valid YAML ({str(exc).splitlines()[0]}).",
                "fix the indentation at the line it names (spaces, never tabs), then rerun.")
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
    depends = api.labels.get("com.docker.compose.depends_on", "")
    for dep in ("postgres", "redis"):
        require(f"{dep}:service_healthy" in depends, f"api does not wait for {dep} to be healthy (depends_on: {depends or 'none'}).",
                f"under api, `depends_on: {{{dep}: {{condition: service_healthy}}}}`.")
    nets = api.attrs["NetworkSettings"]["Networks"]
    require(f"{compose_project(lab.id)}_app-network" in nets, f"api is attached to {', '.join(nets)}, not app-network.",
            "declare `networks: {app-network: {driver: bridge}}` and attach every service to it.")
    pg = containers(lab, "postgres")[0]
    mounts = {m.get("Name"): m["Destination"] for m in pg.attrs["Mounts"] if m["Type"] == "volume"}
    require(mounts.get(f"{compose_project(lab.id)}_postgres-data") == "/var/lib/postgresql/data",
            "postgres does not keep its data in the named volume postgres-data.",
            "mount `postgres-data:/var/lib/postgresql/data` and declare postgres-data under `volumes:`.")
    return "api, postgres and redis healthy; api waits for healthy dependencies; app-network and named volumes in use."


@checks("backends", "The API really uses PostgreSQL and Redis")
def backends(lab):
    rows = int(psql(lab, "SELECT count(*) FROM visits WHERE source = 'api'") or 0)
    hits = redis_get(lab, "visits")
    require(rows > 0 and hits.isdigit() and int(hits) > 0,
            f"postgres has {rows} visit rows from the api and redis counts {hits or 'nothing'}.",
            "call http://localhost:8080/visits a few times (the exercise cell), then check again.")
    return f"{rows} rows written to postgres, redis counter at {hits}."


@checks("persist", "Data in the named volume survived `docker compose down` and `up`")
def persist(lab):
    pg = containers(lab, "postgres")[0]
    created = daemon.created_epoch(pg)
    oldest = psql(lab, "SELECT coalesce(extract(epoch FROM min(at)), 0) FROM visits WHERE source = 'api'")
    require(float(oldest or 0) > 0, "there are no visits from the api in postgres.", "call /visits before taking the stack down.")
    require(float(oldest) < created,
            "the postgres container is older than the data: the stack was not taken down and up since the visits.",
            "run `docker compose down` (without -v), then `docker compose up -d --wait`.")
    return "rows written before the postgres container was recreated are still there: the volume kept them."


@checks("scaled", "Three api replicas answer through nginx")
def scaled(lab):
    replicas = containers(lab, "api")
    require(len(replicas) == 3, f"{len(replicas)} api container(s) running, not 3.",
            "remove `container_name` and the host port from api, then `docker compose up -d --scale api=3 --wait`.")
    seen = {a["hostname"] for a in through_proxy(30)}
    require(len(seen) == 3, f"nginx sent 30 requests to {len(seen)} replica(s).",
            "nginx resolved `api` when it started: `docker compose restart nginx` so it sees all three.")
    return f"30 requests spread over {len(seen)} replicas: {', '.join(sorted(seen))}."


@checks("rebuilt", "`docker compose up -d --build` rolled the code change out to every replica")
def rebuilt(lab):
    answers = through_proxy(12)
    stale = sum("greeting" not in a for a in answers)
    require(stale == 0, f"{stale} of 12 answers came from the old code.",
            "`docker compose up -d --build --wait` after the edit (and keep --scale api=3).")
    return f"every replica answers with the new field: {answers[0]['greeting']!r}."


@checks("fresh", "`docker compose down -v` removed the volumes: a fresh, re-initialised database")
def fresh(lab):
    rows = psql(lab, "SELECT source, count(*) FROM visits GROUP BY source ORDER BY source")
    counts = dict(line.split("|") for line in rows.splitlines() if "|" in line)
    require(counts.get("api", "0") == "0" and redis_get(lab, "visits") in ("", "(nil)"),
            f"the old data is still there ({counts.get('api')} api visits in postgres).",
            "`docker compose down -v` removes the named volumes; then `docker compose up -d --wait`.")
    require(counts.get("init.sql") == "1", "init.sql did not run on the new volume.",
            "mount ./init.sql at /docker-entrypoint-initdb.d/init.sql in the postgres service.")
    return "postgres was re-initialised from init.sql and redis starts empty: the volumes were new."

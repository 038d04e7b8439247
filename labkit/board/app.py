"""The board's web service (FastAPI on Starlette, served by uvicorn).

Students post results with their token (POST /api/results); the instructor, logged in, gets the page (/),
its state (/api/state), live updates as server-sent events (/events) and a CSV of every result (/export.csv).
One process holds the summary the page is drawn from; the database holds every result, and a result is
acknowledged only once it is committed.
"""
from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from labkit.board import auth, store
from labkit.board.summary import Summary, course_checks

STATIC = Path(__file__).with_name("static")
COOKIE = "board_session"
# A student's results arrive a few a minute; a client sending far more is broken or hostile, and must not
# slow the board down for the others: each token may send RATE batches a second, in bursts of BURST.
RATE, BURST = 5.0, 20.0


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uid: str = Field(pattern=r"^[0-9a-f]{32}$")
    lab: str = Field(max_length=8)
    check: str = Field(max_length=64)
    passed: bool
    message: str = Field(max_length=4000)
    hint: str = Field(default="", max_length=4000)
    at: float
    on_check: float = Field(ge=0)


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    student: str | None = None
    results: list[ResultIn] = Field(min_length=1, max_length=200)


class JoinIn(BaseModel):
    code: str = Field(min_length=4, max_length=40)


class Broker:
    """The open pages, each a queue of updates; a page too slow to keep up is dropped (it reconnects and
    reloads the state)."""

    def __init__(self):
        self.queues: set[asyncio.Queue] = set()

    def publish(self, update: dict) -> None:
        for q in list(self.queues):
            try:
                q.put_nowait(update)
            except asyncio.QueueFull:
                self.queues.discard(q)


def create_app(db_url: str, title: str = "Class board", ways_in: list[auth.StudentAuth] | None = None) -> FastAPI:
    """`ways_in`: how a student's bearer token is recognised, tried in order (default: the board's join tokens;
    a Kubernetes TokenReview of a ServiceAccount token would be another)."""
    engine = store.open_engine(db_url)
    students = auth.JoinTokens(engine)
    ways_in = ways_in or [students]

    def student_for(token: str) -> auth.Student:
        refused = None
        for way in ways_in:
            try:
                return way.student_for(token)
            except auth.Refused as err:
                refused = refused or err
        raise refused

    instructor = auth.Instructor(engine)
    broker = Broker()
    buckets: dict[int, list[float]] = {}

    @asynccontextmanager
    async def lifespan(app):
        summary = Summary(await run_in_threadpool(store.all_results, engine))
        summary.students.update(await run_in_threadpool(students.names))
        app.state.summary = summary
        yield
        engine.dispose()

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine, app.state.students, app.state.instructor = engine, students, instructor

    def refuse(status: int, why: str) -> JSONResponse:
        return JSONResponse({"error": why}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return refuse(400, "The body is not valid JSON.")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return refuse(422, f"The result does not have the board's shape: {where or 'body'}: {first.get('msg', 'invalid')}.")

    @app.exception_handler(auth.Refused)
    async def refused(request: Request, exc: auth.Refused):
        return refuse(exc.status, exc.why)

    def logged_in(request: Request) -> bool:
        return instructor.valid(request.cookies.get(COOKIE))

    def allowed(student_id: int) -> bool:
        now = time.monotonic()
        tokens, last = buckets.get(student_id, [BURST, now])
        tokens = min(BURST, tokens + (now - last) * RATE)
        buckets[student_id] = [tokens - 1, now] if tokens >= 1 else [tokens, now]
        return tokens >= 1

    # --- students ---------------------------------------------------------------------------------
    @app.post("/api/join")
    async def join(body: JoinIn):
        student, token = await run_in_threadpool(students.exchange, body.code)
        app.state.summary.students.add(student.name)
        ends = store.get_setting(engine, "ends_at")
        return {"student": student.name, "token": token, "expires_at": float(ends) if ends else None}

    @app.post("/api/results")
    async def post_results(body: Batch, request: Request):
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise auth.Refused(401, "Send your board token as 'Authorization: Bearer <token>' (`labkit join` sets it up).")
        student = await run_in_threadpool(student_for, header[7:].strip())
        if body.student is not None and body.student != student.name:
            raise auth.Refused(403, f"This token is {student.name}'s: it cannot send results for {body.student}.")
        if not allowed(student.id):
            return JSONResponse({"error": "Too many requests: slow down (results are queued and sent later)."},
                                status_code=429, headers={"Retry-After": "2"})
        known = course_checks()
        for r in body.results:
            if r.lab not in known:
                raise auth.Refused(422, f"There is no lab {r.lab!r} in this course.")
            if r.check not in known[r.lab]["checks"]:
                raise auth.Refused(422, f"Lab {r.lab} has no check {r.check!r}.")
        stored, seen = await run_in_threadpool(store.add_results, engine, student.id, student.name,
                                               [r.model_dump() for r in body.results])
        for s in stored:  # committed: now the pages may know
            broker.publish(app.state.summary.add(s))
        return {"stored": len(stored), "already_stored": seen, "acked": [r.uid for r in body.results]}

    # --- the instructor ---------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    async def login_page(failed: int = 0):
        return HTMLResponse((STATIC / "login.html").read_text().replace(
            "<!--FAILED-->", "<p class=bad>That is not the instructor's password.</p>" if failed else ""))

    @app.post("/login")
    async def login(request: Request):
        password = parse_qs((await request.body()).decode()).get("password", [""])[0]
        session = await run_in_threadpool(instructor.login, password)
        if session is None:
            return RedirectResponse("/login?failed=1", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", max_age=auth.SESSION_SECONDS)
        return response

    @app.get("/")
    async def page(request: Request):
        if not logged_in(request):
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "board.html")

    @app.get("/static/{name}")
    async def static(name: str):
        path = STATIC / name
        if name not in ("board.js", "board.css") or not path.exists():
            return refuse(404, "No such file.")
        return FileResponse(path)

    @app.get("/api/state")
    async def state(request: Request):
        if not logged_in(request):
            raise auth.Refused(401, "Log in as the instructor first.")
        return {"title": title, "now": time.time(), **app.state.summary.as_json()}

    @app.get("/events")
    async def events(request: Request):
        if not logged_in(request):
            raise auth.Refused(401, "Log in as the instructor first.")
        queue: asyncio.Queue = asyncio.Queue(maxsize=2000)
        broker.queues.add(queue)

        async def stream():
            try:
                yield {"event": "hello", "data": json.dumps({"now": time.time()})}
                while True:
                    update = await queue.get()
                    yield {"event": "result", "data": json.dumps(update)}
            finally:
                broker.queues.discard(queue)

        return EventSourceResponse(stream(), ping=15)

    @app.get("/export.csv")
    async def export(request: Request):
        if not logged_in(request):
            raise auth.Refused(401, "Log in as the instructor first.")
        rows = await run_in_threadpool(store.all_results, engine)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["student", "lab", "check", "passed", "hint", "message", "at", "seconds_on_check", "received_at"])
        for r in rows:
            writer.writerow([r.student, r.lab, r.check, int(r.passed), r.hint, r.message, _iso(r.at),
                             f"{r.on_check:.0f}", _iso(r.received_at)])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="board.csv"'})

    @app.get("/health")
    async def health():
        return {"ok": True}

    return app


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def serve(db_url: str, host: str, port: int, title: str = "Class board") -> None:
    import uvicorn

    uvicorn.run(create_app(db_url, title), host=host, port=port, log_level="warning")

"""Lab 03 checks: a small, cache-friendly, non-root image that leaks nothing from the project folder."""
from __future__ import annotations

from labkit import daemon, layers
from labkit.checks import Checks, require

checks = Checks()
BAD, GOOD, GOOD_EDIT = "course/api:bad", "course/api:good", "course/api:good-edit"
MAX_FRACTION = 0.5  # the optimized image must be at most half the size of the bad one
# The step that puts the installed dependencies into the image: `pip install` in a single-stage build,
# the COPY of the virtualenv from the build stage in a multi-stage one.
DEPENDENCY_STEP = r"pip install|COPY .* in /opt/venv"
LEAKS = (".env", ".git", ".venv")
NEEDED = ("app", "requirements.txt")  # what the Dockerfile copies: a .dockerignore must leave it in
RUNTIME_BASE = "python:3.11-slim-bookworm"


def size_mb(ref: str) -> float:
    return daemon.image(ref, f"run the build cell that creates {ref}.").attrs["Size"] / 1e6


@checks("size", f"The optimized image is multi-stage and at most {MAX_FRACTION:.0%} of the bad one's size")
def size(lab):
    bad, good = size_mb(BAD), size_mb(GOOD)
    installs = layers.installs_in_final_stage(GOOD, RUNTIME_BASE)
    require(not installs, f"{GOOD} runs pip install in its final stage: a single-stage build, so pip, the wheels "
            "and the build's leftovers ship in the image.",
            "install the dependencies into /opt/venv in a build stage, then start a final stage FROM "
            f"{RUNTIME_BASE} and `COPY --from=build /opt/venv /opt/venv` (and app/).")
    # Python's own wheels (ensurepip's, Debian's python3-pip) live under /usr in every python image; a
    # wheel anywhere else came from the build.
    shipped = layers.in_image(GOOD, "find / -xdev -name '*.whl' -not -path '/usr/*' 2>/dev/null | head -3; true",
                              lab.labels).split()
    require(not shipped, f"{GOOD} ships the wheelhouse ({', '.join(shipped)}): the final stage copied more than "
            "the installed dependencies.", "copy only /opt/venv and app/ from the build stage, not its whole folder.")
    require(good <= MAX_FRACTION * bad,
            f"{GOOD} is {good:.0f} MB, {good / bad:.0%} of {BAD} ({bad:.0f} MB).",
            "start the final stage FROM python:3.11-slim-bookworm and copy only the venv and app/ into it.")
    return f"{GOOD} is {good:.0f} MB, {good / bad:.0%} of {BAD} ({bad:.0f} MB)."


@checks("hardening", "The optimized image runs as non-root and has a HEALTHCHECK")
def hardening(lab):
    cfg = daemon.image(GOOD, "run the build cell that creates it.").attrs["Config"]
    require(cfg.get("User") not in (None, "", "root", "0"), f"{GOOD} runs as {cfg.get('User') or 'root'}.",
            "create a user in the final stage and switch to it with USER.")
    uid = layers.in_image(GOOD, "id -u", lab.labels).strip()  # what the kernel sees, not the name
    require(uid != "0", f"{GOOD} runs as {cfg['User']}, which is uid 0: root under another name.",
            "create the user with a uid of its own (useradd without --uid 0 / --non-unique).")
    probe = layers.healthcheck(cfg)
    require(probe, f"{GOOD} has no HEALTHCHECK (or HEALTHCHECK NONE, which switches it off).",
            'add HEALTHCHECK CMD ["python", "-m", "app.healthcheck"] to the final stage.')
    missing = layers.healthcheck_program_missing(GOOD, cfg, lab.labels)
    require(not missing, f"{GOOD}'s HEALTHCHECK runs {missing}, which the image does not have: it can never pass.",
            "use what the image has: the app's own check, python -m app.healthcheck.")
    return f"user {cfg['User']} (uid {uid}), healthcheck {' '.join(probe)}."


@checks("cache", "After a source-only change the dependency layer is reused")
def cache(lab):
    before = layers.step_layer(GOOD, DEPENDENCY_STEP)
    require(before, f"no step of {GOOD} installs the dependencies or copies /opt/venv.",
            "install them into /opt/venv in the build stage and `COPY --from=build /opt/venv /opt/venv`.")
    edited = daemon.image(GOOD_EDIT, "run the cells that change the source and rebuild as course/api:good-edit.")
    require(daemon.image(GOOD).id != edited.id, f"{GOOD_EDIT} is the same image as {GOOD}.",
            "run the cell that edits app/server.py, then the rebuild.")
    after = layers.step_layer(GOOD_EDIT, DEPENDENCY_STEP)
    require(after and before["layer"] and after["layer"] == before["layer"],
            "the dependency layer was rebuilt after changing only app/server.py.",
            "copy requirements.txt and wheels/ first, install, and only then COPY app/: "
            "a COPY of everything before pip install invalidates the cache on every source change.")
    return f"dependency layer {before['layer'][7:19]}… is the same in both images: reused, not rebuilt."


@checks("dockerignore", ".dockerignore keeps .env, .git and .venv out of the context and the image")
def dockerignore(lab):
    api = lab.workdir / "api"
    require((api / ".dockerignore").exists(), "api/.dockerignore does not exist.",
            "the build reads .dockerignore only at the root of the build context: write it as api/.dockerignore "
            "(the exercise's %%writefile cell).")
    sent = layers.context_files(api)
    leaked = [name for name in LEAKS if name in sent or any(p.startswith(name + "/") for p in sent)]
    commented = [line.strip() for line in (api / ".dockerignore").read_text().splitlines()
                 if "#" in line and not line.lstrip().startswith("#")]
    require(not leaked, f"the build context still contains {', '.join(leaked)}"
            + (f": in .dockerignore a # starts a comment only at the start of a line, so {commented[0]!r} is a "
               "pattern that matches nothing." if commented else "."),
            "list .env, .git and .venv (one per line) in api/.dockerignore.")
    needed = [name for name in NEEDED if name not in sent and not any(p.startswith(name + "/") for p in sent)]
    require(not needed, f"the build context no longer contains {', '.join(needed)}, which the Dockerfile copies: "
            "the image cannot be built from it.", "leave out only what must not ship; keep what the build uses.")
    out = layers.in_image(GOOD, "find / -xdev \\( -name .env -o -name .git -o -name .venv \\) -print 2>/dev/null; true",
                          lab.labels, user="0").split()
    require(not out, f"{GOOD} contains {', '.join(out)}.", "rebuild course/api:good after fixing .dockerignore.")
    return f"context {layers.context_bytes(api) / 1e6:.1f} MB without them; none of {', '.join(LEAKS)} is in {GOOD}."

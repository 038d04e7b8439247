from pathlib import Path
from types import SimpleNamespace

from labkit import cleanup, daemon, labs, ownership
from labkit.labs.lab02 import dockerfile_instructions
from labkit.wheels import pinned


def test_pins_drop_markers_and_comments(tmp_path: Path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nredis==8.1.0\nasync-timeout==5.0.1 ; python_full_version < '3.11.3'\n\n")
    assert pinned(req) == ["redis==8.1.0", "async-timeout==5.0.1"]


def test_only_course_named_or_untagged_images_are_owned():
    assert cleanup.owned_image(SimpleNamespace(tags=["course/api:1.0.0", "localhost:5001/course/api:1.0.0"]))
    assert cleanup.owned_image(SimpleNamespace(tags=[]))
    # A learner's image built FROM a lab image inherits its labels but is not ours.
    assert not cleanup.owned_image(SimpleNamespace(tags=["myapp:latest"]))
    assert not cleanup.owned_image(SimpleNamespace(tags=["course/api:1.0.0", "myapp:latest"]))


def test_labels_filters_and_flags_agree():
    lbl = ownership.labels("02")
    assert ownership.label_filter("02") == [f"{k}={v}" for k, v in lbl.items()]
    assert ownership.label_flags("02") == " ".join(f"--label {k}={v}" for k, v in lbl.items())


def test_lab_lookup_accepts_number_and_slug():
    assert labs.get("2").slug == labs.get("02-docker-fundamentals").slug == "02-docker-fundamentals"


def test_dockerfile_parser_joins_continuations():
    ins = dockerfile_instructions("FROM a AS b\n# c\nRUN x \\\n  && y\nuser app\n")
    assert ins == [("FROM", "a AS b"), ("RUN", "x    && y"), ("USER", "app")]


def test_build_output_marks_cached_steps_and_earlier_stages():
    from labkit.layers import Build, _record

    b = Build("t", 0.0, 0)
    for line in ["Step 1/4 : FROM python AS build", "---> aaaaaaaaaaaa", "Step 2/4 : RUN pip install x",
                 "---> Using cache", "---> bbbbbbbbbbbb", "Step 3/4 : FROM python", "---> aaaaaaaaaaaa",
                 "Step 4/4 : COPY --from=build /opt/venv /opt/venv", "---> cccccccccccc"]:
        _record(b, line)
    assert [s.cached for s in b.steps] == [False, True, False, False]
    assert b.stage_images == ["bbbbbbbbbbbb"]  # the build stage's result, left untagged by the builder


def test_the_site_lists_every_registered_lab_once():
    from labkit import labs, site

    pages = [page for entry in site.lab_pages() for page in entry.values()]
    assert pages == [f"labs/{lab.notebook}" for lab in labs.LABS.values()]
    table = site.labs_table()
    assert all(f"[{lab.title}](labs/{lab.notebook})" in table for lab in labs.LABS.values())
    config = {"nav": [{"Home": "index.md"}, {"Labs": []}], "extra_javascript": []}
    assert site.on_config(config)["nav"][1]["Labs"] == site.lab_pages()
    assert config["extra_javascript"] == [site.MERMAID_JS]  # the site's own mermaid, never a CDN's
    assert site.on_page_markdown(f"x\n{site.TABLE_MARK}\ny", None, None, None) == f"x\n{table}\ny"


OOM_LOG = """[18591.594765] Memory cgroup stats for /docker/{id}:
[18591.594856] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset={id},mems_allowed=0,oom_memcg=/docker/{id},task_memcg=/docker/{id},task=python,pid=17056,uid=0
[18591.594867] Memory cgroup out of memory: Killed process 17056 (python) total-vm:276012kB, anon-rss:64896kB
"""


def test_the_kernel_log_names_the_oom_killed_container():
    ours, other = "9c56d3ab" * 8, "f" * 64
    assert daemon.kernel_oom_killed(OOM_LOG.format(id=ours), ours)
    assert not daemon.kernel_oom_killed(OOM_LOG.format(id=other), ours)
    # systemd's cgroup driver names the scope, with the same id in it
    assert daemon.kernel_oom_killed(OOM_LOG.format(id=ours).replace(f"/docker/{ours}", f"/system.slice/docker-{ours}.scope"), ours)
    assert not daemon.kernel_oom_killed(f"[1.0] Memory cgroup stats for /docker/{ours}:\n", ours)

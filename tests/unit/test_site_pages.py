"""The site's generated pages and its post-processing of notebook pages (labkit/site_pages.py, labkit/site.py)."""
from __future__ import annotations

from labkit import labs, site, site_pages


def test_every_lab_gives_interview_questions_with_answers_and_its_changes():
    for lab_id in labs.LABS:
        questions = site_pages.questions(lab_id)
        assert len(questions) >= 3, f"lab {lab_id}: {len(questions)} interview questions found"
        assert all(q.question and len(q.answer) > 20 for q in questions), lab_id
        changes = site_pages.changes(lab_id)
        assert changes and all(c.title and c.body for c in changes), lab_id


def test_the_pages_link_each_question_and_change_to_its_lab():
    page = site_pages.interview_page()
    assert page.count('??? question "') == sum(len(site_pages.questions(i)) for i in labs.LABS)
    assert "## Networking" in page and "(labs/07-container-networking.ipynb#interview-questions)" in page
    errata = site_pages.errata_page()
    assert errata.count("\n| ") - 1 == sum(len(site_pages.changes(i)) for i in labs.LABS)
    # A change that names its exercise links to that exercise's heading; its year is read from its text.
    dns = next(c for c in site_pages.changes("07") if "DNS egress" in c.title)
    assert dns.exercise == "exercise-5-by-name"
    cni = next(c for c in site_pages.changes("07") if "CNI" in c.title)
    assert "2024" in cni.when


def test_every_interview_question_links_to_where_a_learner_sees_it():
    """Each answer ends with "Seen in exercise N" (or another lab's exercise, or a named section), and that place
    exists: the interview page links the question to it."""
    unlinked = [f"lab {i}: {q.question}" for i in labs.LABS for q in site_pages.questions(i) if not q.exercise]
    assert not unlinked, unlinked
    vms = next(q for q in site_pages.questions("11") if q.question.startswith("Containers vs VMs"))
    assert (vms.seen_in, vms.exercise) == ("01", site_pages.exercises("01")["1"])
    secret = next(q for q in site_pages.questions("03") if "RUN rm" in q.question)
    assert secret.exercise == "a-secret-deleted-in-a-later-step"
    assert f"[where you see it](labs/01-introduction-to-containers.ipynb#{vms.exercise})" in site_pages.interview_page()


def test_a_solution_cell_is_collapsed_and_no_other():
    html = ('<div class="jp-Cell jp-CodeCell"><div class="jp-Cell jp-CodeCell" id="a"><div class="jp-InputArea">'
            '# BEGIN SOLUTION: run it\nrun</div></div></div>'
            '<div class="jp-Cell jp-CodeCell"><div class="jp-InputArea">lab.check("x")</div></div>')
    out = site.collapse_solutions(html)
    assert out.count("<details") == 1 and out.index("<details") < out.index("BEGIN SOLUTION")
    assert out.index('lab.check("x")') > out.index("</details>")


def test_a_table_of_contents_link_that_lost_its_code_span_finds_its_heading():
    html = '<h2 id="exercise-1-dockerignore">x</h2><a href="#exercise-1">toc</a><a href="#missing">m</a>'
    out = site._toc_anchors(html)
    assert 'href="#exercise-1-dockerignore"' in out and 'href="#missing"' in out


def test_every_command_the_labs_run_is_described_on_the_reference_page():
    used = site_pages.commands_used()
    assert {"docker run", "docker compose up", "kubectl apply", "kubectl rollout undo"} <= set(used)
    assert not [name for name in used if name not in site_pages.COMMANDS], "describe it in site_pages.COMMANDS"
    page = site_pages.commands_page()
    assert "| `kubectl rollout undo` | go back to the previous revision" in page
    assert "[06](labs/06-pods-services-deployments.ipynb)" in page


def test_the_checklist_page_links_each_item_to_where_it_is_proven():
    page = site_pages.checklist_page()
    assert "| Pod Disruption Budget | [exercise 3 here](labs/11-production-deployment.ipynb#exercise-3-" in page
    assert "[lab 07](labs/07-container-networking.ipynb)" in page


def test_the_home_table_gives_each_labs_estimated_time():
    table = site.labs_table()
    assert all(f"| {site_pages.minutes(i)} |" in table for i in labs.LABS)
    assert site_pages.minutes("07") == "90 min"

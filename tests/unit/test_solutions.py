import nbformat
import pytest

from helpers import check_cells, source_notebook, tags
from labkit import labs
from labkit.notebooks import SolutionMarkerError, has_solution, learner_version, strip_solutions


def test_region_becomes_todo_with_its_text():
    src = "%%shell\necho keep\n# BEGIN SOLUTION: run the thing\ndocker run x\n# END SOLUTION\necho after"
    assert strip_solutions(src) == "%%shell\necho keep\n# TODO: run the thing\necho after"


def test_indented_region_keeps_block_valid():
    src = "if True:\n    # BEGIN SOLUTION\n    x = 1\n    # END SOLUTION\nprint('x')"
    out = strip_solutions(src)
    assert out == "if True:\n    # TODO: your solution here (see the instructions above)\n    pass\nprint('x')"
    compile(out, "cell", "exec")


def test_indented_region_of_a_yaml_file_stays_yaml():
    import yaml

    src = ("%%writefile pod.yaml\nspec:\n  containers:\n  - name: api\n    env:\n    # BEGIN SOLUTION: API_TOKEN\n"
           "    - {name: API_TOKEN, value: x}\n    # END SOLUTION\n    image: api\n")
    out = strip_solutions(src)
    assert "pass" not in out
    assert yaml.safe_load(out.split("\n", 1)[1]) == {"spec": {"containers": [{"name": "api", "env": None,
                                                                                  "image": "api"}]}}


@pytest.mark.parametrize("bad", [
    "# BEGIN SOLUTION\nx",
    "x\n# END SOLUTION",
    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION",
])
def test_unbalanced_markers_are_rejected(bad):
    with pytest.raises(SolutionMarkerError):
        strip_solutions(bad)


def test_learner_version_clears_outputs_and_leaves_source_alone():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("# BEGIN SOLUTION\nsecret()\n# END SOLUTION")
    cell.outputs = [nbformat.v4.new_output("stream", text="hi")]
    cell.execution_count = 3
    nb.cells = [cell]
    out = learner_version(nb)
    assert "secret" not in out.cells[0].source and out.cells[0].outputs == []
    assert out.cells[0].execution_count is None
    assert "secret" in nb.cells[0].source  # the source notebook object is not modified


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_source_notebook_follows_the_conventions(lab):
    nb = source_notebook(lab)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored with outputs"
    assert f'labkit.start("{lab.id}")' in code[0].source, "first code cell must start the lab"
    assert "cleanup" in tags(code[-1]) and "lab.cleanup()" in code[-1].source, "last code cell must clean up"
    assert check_cells(nb), "a lab needs checker cells"
    assert any(has_solution(c.source) for c in code), "a lab needs exercises"
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("What changed since the chapter", "Interview questions", "Clean up"):
        assert heading in md, f"missing section: {heading}"
    # Every exercise is followed (before the next exercise) by a check.
    pending = False
    for c in code:
        if has_solution(c.source):
            pending = True
        if "check" in tags(c):
            pending = False
        assert not (pending and "cleanup" in tags(c)), "an exercise has no check after it"
    for c in code:
        learner = strip_solutions(c.source)
        if not c.source.startswith("%"):
            compile(learner, "cell", "exec")  # learner cells stay valid Python

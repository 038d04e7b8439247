"""labkit.sampler: a watch samples until its rule says stop (or time runs out), and keeps what it saw.
The clock and the readings are fakes; lab 10 watches a real HPA with it in every run of its notebook."""
from labkit import sampler


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def readings(*values):
    it = iter(values)
    return lambda: next(it)


def test_a_watch_ends_with_the_reason_its_rule_gives_and_keeps_every_sample():
    clock = Clock()
    read = readings({"replicas": 2}, {"replicas": 4}, {"replicas": 4}, {"replicas": 2})
    seen = []

    def stop(history):
        seen.append(len(history.values))
        return "back at 2" if history.last("replicas") == 2 and len(history.values) > 1 else None

    history, reason = sampler.watch(read, stop, timeout=60, interval=3, clock=clock, sleep=clock.sleep)
    assert reason == "back at 2"
    assert history.series("replicas") == [(0, 2), (3, 4), (6, 4), (9, 2)]
    assert seen == [1, 2, 3, 4]


def test_a_watch_stops_at_its_timeout_when_the_rule_never_does(capsys):
    clock = Clock()
    history, reason = sampler.watch(lambda: {"replicas": 3}, lambda h: None, timeout=10, interval=3, clock=clock,
                                    sleep=clock.sleep)
    assert reason == "stopped watching after 10 s"
    assert len(history.values) == 5  # at 0, 3, 6, 9 and 12 s: the first sample past the timeout ends it
    assert capsys.readouterr().out.count("replicas 3") == 1  # without a notebook: a line per change only


def test_changes_print_a_line_per_change_and_unknown_values_as_a_question_mark():
    history = sampler.History(began=0)
    for at, values in ((0, {"cpu %": None, "replicas": 2}), (3, {"cpu %": None, "replicas": 2}),
                       (6, {"cpu %": 150.0, "replicas": 2}), (9, {"cpu %": 150.0, "replicas": 4})):
        history.add(at, values)
    assert history.changes() == ["    0 s  cpu % ?  replicas 2", "    6 s  cpu % 150  replicas 2",
                                 "    9 s  cpu % 150  replicas 4"]
    assert history.series("cpu %") == [(6, 150.0), (9, 150.0)]


def test_the_scaling_picture_draws_counts_percentages_and_the_load():
    import matplotlib

    matplotlib.use("Agg")
    from labkit import plots

    fig = plots.scaling([0, 3, 6], {"replicas": [2, 4, None]}, {"cpu %": [None, 120.0, 80.0]}, target=50,
                        shaded=[False, True, True])
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["replicas"]
    assert {line.get_label() for line in right.get_lines()} == {"cpu %", "target 50%"}
    assert "grey: load running" in left.get_xlabel()


def test_in_a_kernel_the_picture_is_one_display_replaced_in_place(tmp_path):
    """Through nbclient, as every lab notebook runs in the tests: one image output, redrawn by display updates
    (no widget: nbclient's Output-widget mimic could leave a run waiting on a finished cell)."""
    import nbclient
    import nbformat

    code = """
from labkit import sampler
import matplotlib.pyplot as plt
values = iter([1, 2, 3])
def draw(history):
    fig, ax = plt.subplots()
    ax.plot(history.times, [v["n"] for v in history.values])
    return fig
history, reason = sampler.watch(lambda: {"n": next(values)}, lambda h: "done" if len(h.values) == 3 else None,
                                timeout=60, interval=0.05, draw=draw)
print(reason, len(history.values))
"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 1  # three samples drawn, one picture: each redraw replaced the last
    assert not any(o.output_type == "display_data" and "application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in outputs)
    assert any(o.output_type == "stream" and "done 3" in o.text for o in outputs)

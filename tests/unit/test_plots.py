"""A lab's picture, in a real kernel as JupyterLab runs it: a cell ending in a plot call shows it once."""
from __future__ import annotations

import nbclient
import nbformat


def test_a_cell_ending_in_a_plot_call_shows_one_picture():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from labkit import plots\n"
                                  "plots.steps_over_time({'rs-1 (1.0)': [(0, 0), (2, 3)], 'rs-2 (1.1)': [(5, 1)]},"
                                  " ylabel='pods wanted')"),
        nbformat.v4.new_code_cell("plots.stacked_bars(['200 requests'], {'v1': [180], 'v2': [20]})\nprint('after')"),
    ])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    images = [[o for o in cell.outputs if "image/png" in o.get("data", {})] for cell in nb.cells]
    assert len(images[0]) == 1, f"the picture was shown {len(images[0])} times"
    assert len(images[1]) == 0  # not the cell's value: a helper's figure is never drawn behind the cell's back

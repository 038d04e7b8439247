"""A class on loopback: 30 simulated students posting for a bounded time while one broken client floods the
board and the instructor's page keeps asking for its state. Nothing acknowledged may be lost, the flood is
held back, and the page keeps answering; killed mid-load and started again, the board still holds every
result it acknowledged. The figures are printed (and measured again by `make bench`), not asserted."""
from __future__ import annotations

import threading
import time

import pytest

from labkit.board import simulate

STUDENTS = 30


@pytest.fixture
def class_of_30(board):
    return {f"student{n:02}": board.join(f"student{n:02}") for n in range(STUDENTS)}


def test_thirty_students_and_a_flood_lose_nothing_and_the_page_keeps_answering(board, class_of_30):
    flood = ("flooder", board.join("flooder"))
    figures = simulate.run(board.url, class_of_30, seconds=8, cookies=board.login(), flood=flood)
    print(f"\n[{board.db_url.split(':')[0]}] {figures.summary(STUDENTS)}")
    assert figures.acked and figures.unacked == 0 and not figures.errors
    # Every acknowledged result is in the database, and nothing else is.
    assert board.uids() == figures.acked
    assert figures.refused_flood > 0, "the flooding client was never held back"
    assert len(figures.page_ms) >= 10  # the page answered all along


def test_a_board_killed_mid_load_keeps_every_result_it_acknowledged(board, class_of_30):
    cookies = board.login()
    figures = simulate.Figures()
    stop = threading.Event()
    until = time.monotonic() + 60
    threads = [threading.Thread(target=simulate.student, args=(board.url, n, t, until, figures, 0.1, stop))
               for n, t in class_of_30.items()]
    for t in threads:
        t.start()
    time.sleep(3)
    board.kill()  # SIGKILL, mid-load
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    acked_before_kill = set(figures.acked)
    assert len(acked_before_kill) > 100 and figures.unacked > 0  # load was on, and requests failed at the kill
    board.start()
    assert acked_before_kill <= board.uids()
    # The restarted board serves the page from the database, with every student in it.
    import requests

    state = requests.get(f"{board.url}/api/state", cookies=cookies, timeout=10).json()
    assert set(state["students"]) == set(class_of_30)
    print(f"\n[{board.db_url.split(':')[0]}] killed after 3 s of load: {len(acked_before_kill)} results acknowledged, "
          f"all {len(board.uids() & acked_before_kill)} in the database after a restart")

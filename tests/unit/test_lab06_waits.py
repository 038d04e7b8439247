"""Lab 06's wait for a stalled rollout: it returns once the controller reports ProgressDeadlineExceeded, and
stops at once, naming the fix, when the Deployment's deadline is longer than the wait (the learner version
left progressDeadlineSeconds at its default of 600 s, and sat out the whole wait). The API is faked: only the
decision is under test; the real rollout is lab 06's own test."""
from types import SimpleNamespace as NS

import pytest

from labkit.errors import LabError
from labkit.labs import lab06


def _lab(deadline, reason):
    conditions = [NS(type="Progressing", reason=reason, message=f"ReplicaSet api-x: {reason}")] if reason else []
    dep = NS(spec=NS(progress_deadline_seconds=deadline), status=NS(conditions=conditions))
    apps = NS(read_namespaced_deployment=lambda name, namespace: dep)
    return NS(kube=NS(apps=apps, namespace="lab06"))


def test_a_rollout_past_its_deadline_is_reported(capsys):
    lab06.wait_stalled(_lab(30, "ProgressDeadlineExceeded"), timeout=5)
    assert "ProgressDeadlineExceeded" in capsys.readouterr().out


@pytest.mark.parametrize("deadline, default", [(600, True), (120, False)])
def test_a_deadline_longer_than_the_wait_stops_it_at_once_with_the_fix(deadline, default):
    with pytest.raises(LabError) as err:
        lab06.wait_stalled(_lab(deadline, "ReplicaSetUpdated"), timeout=90)
    assert f"after {deadline} s" in err.value.problem and ("the default" in err.value.problem) == default
    assert "progressDeadlineSeconds: 30" in err.value.fix


def test_a_short_deadline_is_waited_for():
    with pytest.raises(LabError) as err:
        lab06.wait_stalled(_lab(1, "ReplicaSetUpdated"), timeout=1.5)
    assert "did not happen within" in err.value.problem

"""Reading NetworkPolicies as the API server holds them: which policies govern a pod, and what their rules
name. Checks prove a policy by traffic (labkit.probe_matrix); this only chooses the hint that names the
learner's mistake (a rule for the wrong pods, a port missing, a peer in the wrong namespace)."""
from __future__ import annotations


def selects(selector, labels: dict) -> bool:
    """Does a label selector (matchLabels and matchExpressions) select these labels? None selects everything,
    as a missing podSelector does."""
    if selector is None:
        return True
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for e in selector.match_expressions or []:
        has = e.key in labels
        if e.operator == "In" and labels.get(e.key) not in (e.values or []):
            return False
        if e.operator == "NotIn" and has and labels[e.key] in (e.values or []):
            return False
        if e.operator in ("Exists", "DoesNotExist") and (e.operator == "Exists") != has:
            return False
    return True


def governing(policies, labels: dict, direction: str) -> list:
    """The policies that select a pod with these labels for a direction (Ingress or Egress). A policy without
    policyTypes governs Ingress (and Egress too when it has egress rules: the API server fills that in)."""
    return [p for p in policies if selects(p.spec.pod_selector, labels)
            and direction in (p.spec.policy_types or ["Ingress"])]


def rules(policies, direction: str) -> list:
    return [r for p in policies for r in ((p.spec.ingress if direction == "Ingress" else p.spec.egress) or [])]


def peers(policies, direction: str) -> list:
    """Every peer (from or to) the policies' rules name for a direction."""
    return [peer for r in rules(policies, direction) for peer in ((r._from if direction == "Ingress" else r.to) or [])]

"""The answer-variant files are well formed and cover every check; their edits still match the notebooks.
(Running them is tests/labs/test_answer_variants.py's job.)"""
import pytest

import answer_variants
from helpers import source_notebook
from labkit import labs

# Labs whose variants are not written yet (issue #8 tracks them); a lab leaves this set with its file.
PENDING: set[str] = set()


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_every_check_has_a_lazy_or_wrong_variant(lab):
    variants = answer_variants.load(lab)
    if lab.id in PENDING:
        assert not variants, f"lab {lab.id} has variants now: take it out of PENDING"
        return
    covered = {v.at for v in variants if v.kind != "alternative"}
    missing = [name for name in lab.module().checks.names() if name not in covered]
    assert not missing, f"lab {lab.id}: no lazy or wrong variant for {missing}"


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_variant_edits_match_the_notebook(lab):
    nb = answer_variants.with_variants(source_notebook(lab), answer_variants.load(lab))
    injected = [c for c in nb.cells if "variant" in c.metadata]
    probes = [c for c in injected if c.metadata["variant"]["role"] == "probe"]
    assert len(probes) == len(answer_variants.load(lab))


def test_a_variant_with_a_stale_edit_is_refused(tmp_path, monkeypatch):
    (tmp_path / "lab01.yaml").write_text(
        "- {id: stale, kind: wrong, at: kernel, replace: [[no such text, x]], expect: {fail: {kernel: [x]}}}\n")
    monkeypatch.setattr(answer_variants, "VARIANTS_DIR", tmp_path)
    lab = labs.get("01")
    with pytest.raises(answer_variants.VariantError, match="replace text not found"):
        answer_variants.with_variants(source_notebook(lab), answer_variants.load(lab))


@pytest.mark.parametrize("body, problem", [
    ("{id: a, kind: sloppy, at: kernel, expect: {fail: {kernel: [x]}}}", "kind"),
    ("{id: a, kind: wrong, at: kernal, expect: {fail: {kernel: [x]}}}", "unknown check"),
    ("{id: a, kind: alternative, at: kernel, expect: {fail: {kernel: [x]}}}", "must pass"),
    ("{id: a, kind: wrong, at: kernel, expect: {fail: {kernel: []}}}", "words of its hint"),
])
def test_malformed_variants_are_refused(tmp_path, monkeypatch, body, problem):
    (tmp_path / "lab01.yaml").write_text(f"- {body}\n")
    monkeypatch.setattr(answer_variants, "VARIANTS_DIR", tmp_path)
    with pytest.raises(answer_variants.VariantError, match=problem):
        answer_variants.load(labs.get("01"))


MIN_BLIND = 3  # docs/toolkit.md, "Writing an exercise": a second set, written without reading the checks


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_a_blind_set_of_variants_was_written(lab):
    blind = [v for v in answer_variants.load(lab) if v.blind]
    assert len(blind) >= MIN_BLIND, f"lab {lab.id}: {len(blind)} variants marked blind: true (at least {MIN_BLIND})"

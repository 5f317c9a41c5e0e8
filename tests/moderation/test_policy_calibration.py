"""The policy's classifier thresholds: calibrated for the shipped cascade by
scripts/calibrate_policy.py on the in-repo hand-written set, and applied to the classifier's
signals only (the rules keep the thresholds their scores were written against)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from rempart.moderation.pipeline import judge
from rempart.moderation.signals import Signal, policy

ROOT = Path(__file__).parents[2]


def calibration_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "calibrate_policy", ROOT / "scripts" / "calibrate_policy.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_category_has_ordered_thresholds() -> None:
    for name, category in policy().categories.items():
        assert 0.05 <= category.classifier_review < category.classifier_restrict < 1, name
        # Automated removal never starts lower for the classifier than for the rules.
        assert category.classifier_restrict >= category.restrict, name
        assert 0 < category.review < category.restrict <= 1, name


def test_shipped_policy_is_what_the_script_computes_from_the_shipped_weights() -> None:
    script = calibration_script()
    texts, labels = script.handwritten()
    computed = script.calibrate(script.cascade_scores(texts), labels, script.general_restrict())
    shipped = {
        name: (c.classifier_review, c.classifier_restrict)
        for name, c in policy().categories.items()
    }
    # Equal on this machine; one rounding step (a hundredth) of slack for another CPU, whose
    # vector units may sum the encoder's floats in another order (scores moved by 1e-4 at
    # random never changed a threshold; by 1e-3 they did).
    assert computed.keys() == shipped.keys()
    for name, (review, restrict) in computed.items():
        assert abs(review - shipped[name][0]) <= 0.0101, (name, review, shipped[name])
        assert restrict == shipped[name][1], (name, restrict, shipped[name])
    # And the file is written exactly as the script writes it.
    assert script.render(script.updated_policy(shipped)) == script.POLICY.read_text("utf-8")


def test_review_threshold_trades_recall_for_precision_of_one_half() -> None:
    script = calibration_script()
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    positive = np.array([True, False, True, False, False, True, False, False])
    # Down to 0.4 precision is 3/6 = 0.5; the positive at 0.4 is the last one it keeps.
    assert script.review_threshold(scores, positive) == 0.4
    # Restrict: 0.1 above the highest negative, on the 0.05 grid, never below the floor.
    assert script.restrict_threshold(scores, positive, 0.4) == 0.9
    assert script.restrict_threshold(scores, positive, 0.4, floor=0.95) == 0.95


def _classifier(category: str, score: float) -> Signal:
    return Signal("classifier", category, score, "semantic-v3/semantic")


def test_classifier_scores_are_judged_by_the_classifier_thresholds() -> None:
    drug = policy().categories["drug_sales"]
    between = (drug.classifier_review + drug.classifier_restrict) / 2
    assert judge([_classifier("drug_sales", between)]).state == "queued"
    assert judge([_classifier("drug_sales", drug.classifier_restrict)]).state == "restricted"
    below = drug.classifier_review - 0.01
    assert judge([_classifier("drug_sales", below)]).state == "visible"
    # A darknet shop's typical v2 cascade score, under the former 0.45, now reaches a human.
    assert judge([_classifier("drug_sales", 0.3)]).state == "queued"


def test_rules_and_remote_verdicts_keep_the_general_thresholds() -> None:
    drug = policy().categories["drug_sales"]
    weak_rule = Signal("rules", "drug_sales", 0.35, "rules-v1")
    assert drug.classifier_review <= 0.35 < drug.review
    assert judge([weak_rule]).state == "visible"
    remote = Signal("classifier", "drug_sales", 0.35, "remote:guard/remote")
    assert judge([remote]).state == "visible"
    assert judge([weak_rule, _classifier("drug_sales", 0.35)]).state == "queued"

"""The policy team's rule lists (moderation/data/rules.json) for the category with no training
text: indicator patterns for sexual content involving minors, written in policy terms."""

from __future__ import annotations

import pytest

from rempart.moderation.signals import policy, rule_signals


def _score(text: str) -> float:
    return max(
        (s.score for s in rule_signals(text, None) if s.category == "csam_indicators"), default=0
    )


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("cp links for trade, DM", "restrict"),
        ("Échange pack pthc en privé", "restrict"),
        ("Cherche jeunes filles mineures pour photos", "restrict"),
        ("J'ai 13 ans, parle-moi en privé et ne dis rien à tes parents", "review"),
        ("La police a démantelé un réseau pedo, signalez les liens", "review"),
        ("Mon fils de 12 ans adore le foot", "nothing"),
        ("I am 14 years old and I love my parents", "nothing"),
        ("Le CP de ma fille vend des gâteaux et des vidéos de la kermesse", "nothing"),
    ],
)
def test_minor_indicators_follow_the_policy_thresholds(text: str, outcome: str) -> None:
    thresholds = policy().categories["csam_indicators"]
    score = _score(text)
    if outcome == "restrict":
        assert score >= thresholds.restrict
    elif outcome == "review":
        assert thresholds.review <= score < thresholds.restrict
    else:
        assert score < thresholds.review

"""The committed first-stage classifier: loads offline from the package, reads French and
English, tells offers from their benign look-alikes well enough to assist, and is
deterministic. No database involved."""

from __future__ import annotations

from rempart.moderation.ngram import CATEGORIES, load_default

CLEAR = {
    "Vente de cocaïne, 60 € le gramme, livraison à Lyon, écris-moi": "drug_sales",
    "Fresh weed just landed, DM for the menu, discreet shipping": "drug_sales",
    "Je vends un pistolet sans papiers, remise en main propre": "weapons",
    "Selling a Glock, no paperwork, serious buyers only": "weapons",
    "Double your bitcoin in 24 hours, guaranteed returns": "scams_fraud",
    "Félicitations, vous avez gagné ! Payez les frais sur ce lien": "scams_fraud",
    "Abonnement IPTV 12 mois, 20 000 chaînes, contactez-moi": "piracy",
}
BENIGN = [
    "La police a saisi de la cocaïne lors d'une opération à Lyon",
    "Hunter safety course: owning a rifle requires a licence",
    "Where to watch the final legally? On the official app",
    "Quelqu'un a une bonne recette de tarte aux pommes ?",
]


def test_offers_score_their_category() -> None:
    model = load_default()
    assert model.model_version == "ngram-v3"
    results = model.classify(list(CLEAR))
    for (text, expected), result in zip(CLEAR.items(), results, strict=True):
        assert set(result.scores) == set(CATEGORIES)
        assert result.stage == "first"
        assert result.scores[expected] == max(result.scores.values()), (text, result.scores)


def test_benign_lookalikes_stay_below_the_restrict_thresholds() -> None:
    from rempart.moderation.signals import policy

    thresholds = policy().categories
    for result in load_default().classify(BENIGN):
        for category, score in result.scores.items():
            if category in thresholds:
                assert score < thresholds[category].restrict, (category, score)


def test_deterministic_and_robust() -> None:
    model = load_default()
    texts = ["", " ", "🔥" * 500, "a" * 10_000, "\x00\x01", "Beuh dispo"]
    first = model.classify(texts)
    assert model.classify(texts) == first
    assert all(abs(sum(r.scores.values()) - 1) < 0.01 for r in first)
    assert model.classify([]) == []


def test_classify_command_reads_json_lines() -> None:
    import json

    from typer.testing import CliRunner

    from rempart.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["classify"], input='{"text": "Selling a Glock, no paperwork"}\n"Bonjour"\n'
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["top"] == "weapons"
    assert len(lines) == 2
    assert runner.invoke(app, ["classify"], input="not json\n").exit_code == 1

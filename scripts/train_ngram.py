"""Train the first-stage classifier (``rempart.moderation.ngram``) and write its weights.

    .venv/bin/python scripts/train_ngram.py --data ../shared/data

Training data:
- ToxiGen (MIT, CDLA-Permissive-2.0): hate_* lines as hate_speech, neutral_* as none, after
  splitting the "\\n"-joined sentences and removing duplicates;
- SMS Spam Collection (free use, cite Almeida et al., DocEng'11): spam with prize, claim or
  premium-rate wording as scams_fraud, the rest of the spam as spam, ham as none;
- French Multilingual HateCheck (CC BY 4.0): hateful as hate_speech, non-hateful as none;
- this project's own synthetic French and English examples, generated below from
  templates, for the categories no public corpus covers, and benign look-alikes as none.
The darknet corpus is research-only and is not used. The held-out split is by template
(synthetic) or by a hash of the text (public data), so no template is in both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np

from rempart.moderation.ngram import BITS, CATEGORIES, NgramClassifier, features

OUT = Path(__file__).parents[1] / "src" / "rempart" / "moderation" / "weights"
VERSION = "ngram-v3"

SLOTS = {
    "city": [
        "Marseille",
        "Lille",
        "Nantes",
        "Toulouse",
        "Rennes",
        "Bristol",
        "Glasgow",
        "Cardiff",
        "Boston",
        "Perth",
        "Brest",
        "Dijon",
    ],
    "drug_fr": [
        "cocaïne",
        "beuh",
        "shit",
        "résine",
        "MDMA",
        "kétamine",
        "ecstas",
        "héro",
        "champignons",
        "LSD",
    ],
    "drug_en": [
        "cocaine",
        "weed",
        "hash",
        "MDMA",
        "ketamine",
        "pills",
        "molly",
        "carts",
        "shrooms",
        "LSD",
    ],
    "gun_fr": [
        "pistolet",
        "Glock",
        "fusil à pompe",
        "kalachnikov",
        "revolver",
        "9 mm",
        "munitions",
        "silencieux",
        "carabine sans permis",
    ],
    "gun_en": [
        "pistol",
        "Glock",
        "shotgun",
        "AK",
        "revolver",
        "9mm",
        "ammo",
        "suppressor",
        "unregistered rifle",
    ],
    "price": ["20", "35", "50", "80", "120", "400", "900", "1500"],
    "handle": [
        "@plug_sud",
        "@vitefait",
        "@discret24",
        "@lowkeyshop",
        "@fastdrop",
        "@safehands",
        "@nightowl77",
    ],
    "show": [
        "le match de ce soir",
        "la finale",
        "le dernier film Marvel",
        "la saison 3",
        "tous les matchs de Ligue 1",
        "le GP de Monaco",
    ],
    "show_en": [
        "tonight's match",
        "the final",
        "the new Marvel film",
        "season 3",
        "every Premier League game",
        "the Monaco GP",
    ],
    "group": ["le Front de l'Aube", "la Légion Grise", "les Frères du Serment"],
    "group_en": ["the Dawn Front", "the Grey Legion", "the Brothers of the Oath"],
    "target_fr": ["les juifs", "les musulmans", "les Roms", "les immigrés", "les homosexuels"],
    "target_en": ["jews", "muslims", "immigrants", "gay people", "black people"],
    "phone": ["+61 491 570 110", "+61 491 570 156", "(555) 555-0142", "+1 212 555 0199"],
    "street": ["12 rue des Lilas", "4 avenue du Port", "27 Elm Street", "8 Harbour Road"],
    "name": ["Camille D.", "Julien M.", "Sam T.", "Alex R.", "Nora B."],
}

TEMPLATES: dict[str, list[str]] = {
    "drug_sales": [
        "{drug_fr} dispo sur {city}, {price} € le gramme, écris à {handle}",
        "Livraison {drug_fr} en 30 min sur {city}, paiement à la livraison {handle}",
        "Arrivage frais de {drug_fr}, carte des prix en privé {handle}",
        "Plan {drug_fr} sérieux, envoi discret partout en France",
        "{drug_en} available in {city}, {price} a gram, hit me up {handle}",
        "Same-day {drug_en} drop in {city}, cash or crypto, {handle}",
        "Fresh {drug_en} just landed, DM for the menu",
        "Top shelf {drug_en}, discreet shipping nationwide, {handle}",
        "Vente de {drug_fr}, {price} € les 5 g, livré en main propre à {city}",
        "Nouveau stock {drug_fr} qualité premium, commande par message",
        "{drug_fr} pas cher, envoi postal sous vide, paiement crypto",
        "Selling {drug_en}, {price} for an eighth, delivery across {city}",
        "Restock: {drug_en} and {drug_en}, order via {handle}",
        "Cheap {drug_en}, vacuum sealed post, pay in crypto",
        "Menu du jour : {drug_fr} et {drug_fr}, livraison {city}",
        "Plug for {drug_en} in {city}, open late, text {handle}",
    ],
    "weapons": [
        "Je vends un {gun_fr} sans papiers, {price} €, remise en main propre à {city}",
        "{gun_fr} dispo, pas de questions, contact {handle}",
        "Cherche acheteur pour {gun_fr}, paiement en crypto",
        "Selling a {gun_en}, no paperwork, {price}, meet in {city}",
        "{gun_en} for sale, untraceable, serious buyers only {handle}",
        "Got a {gun_en} and ammo, cash only, {city}",
        "À vendre : {gun_fr} avec chargeurs, {price} €, envoi possible",
        "Vente {gun_fr} intraçable, numéro limé, MP {handle}",
        "Stock de {gun_fr} et {gun_fr}, livraison discrète",
        "{gun_en} with mags for sale, {price}, can ship",
        "Filed serial {gun_en}, clean, message {handle}",
        "Stock of {gun_en} and {gun_en}, discreet delivery",
        "Qui veut un {gun_fr} ? Prix négociable, {city}",
        "Anyone need a {gun_en}? Price negotiable, {city}",
    ],
    "scams_fraud": [
        "Doublez votre mise en 24 h grâce à notre robot crypto, gains garantis",
        "Félicitations, vous avez gagné un iPhone ! Payez 2 € de frais sur ce lien",
        "Votre colis est bloqué, réglez 1,99 € pour le débloquer : lien",
        "Investissez {price} € et recevez 10 fois plus en une semaine, garanti",
        "Double your bitcoin in 24 hours, guaranteed returns, send to this wallet",
        "You have won a gift card! Claim it now by entering your bank details",
        "Your parcel is on hold, pay the fee at this link to release it",
        "Send me your verification code to confirm your account",
    ],
    "piracy": [
        "{show} en direct et gratuit ici, lien dans la bio",
        "Tous les films en 4K, téléchargement gratuit, lien ci-dessous",
        "Abonnement IPTV 12 mois, 20 000 chaînes, {price} €, contact {handle}",
        "Watch {show_en} free in HD, link in bio",
        "All new films in 4K, free download, link below",
        "IPTV subscription, 20,000 channels, {price} a year, DM {handle}",
        "Lien streaming gratuit pour {show}, sans pub",
        "Films et séries piratés, dossier partagé, accès à vie",
        "Compte premium partagé pour regarder {show}, {price} €",
        "Free streaming link for {show_en}, no ads",
        "Pirated films and series, shared drive, lifetime access",
        "Cracked premium accounts to watch {show_en}, {price}",
    ],
    "terrorism": [
        "Rejoignez {group}, prenez les armes contre les mécréants",
        "Gloire aux martyrs de {group}, leur sacrifice appelle le vôtre",
        "Join {group_en} and take up arms, paradise awaits the fighters",
        "Glory to the martyrs of {group_en}, the next attack will be greater",
        "Frappez les infidèles partout où ils sont, {group} vaincra",
        "{group} recrute des combattants, contactez-nous en privé",
        "Strike the unbelievers wherever they are, {group_en} will prevail",
        "{group_en} is recruiting fighters, contact us privately",
        "Vive {group}, honneur aux héros de l'attentat",
        "Long live {group_en}, honour to the heroes of the attack",
    ],
    "hate_speech": [
        "{target_fr} sont des parasites, il faut les chasser du pays",
        "Je ne supporte pas {target_fr}, ce sont des animaux",
        "{target_en} are vermin and should be driven out",
        "I hate {target_en}, they are subhuman",
    ],
    "csam_indicators": [
        "Échange vidéos cp, liens privés, mineurs",
        "pack pedo à vendre, envoie un MP",
        "cp links for trade, young only, DM",
        "selling pthc packs, telegram only",
    ],
    "doxxing": [
        "Voici l'adresse de {name} : {street}, son numéro {phone}, allez lui rendre visite",
        "{name} habite au {street}, tél {phone}, faites tourner",
        "Here is where {name} lives: {street}, phone {phone}, go pay a visit",
        "{name}'s home address is {street}, call {phone}, spread it",
        "Numéro perso de {name} : {phone}, harcelez-le",
        "On a trouvé où vit {name} : {street}",
        "{name}'s personal number is {phone}, flood it",
        "We found where {name} lives: {street}",
    ],
    "spam": [
        "Cliquez ici pour une offre limitée, abonnez-vous vite !!!",
        "Gagnez des abonnés gratuits, partagez ce message à 10 groupes",
        "Click here for a limited offer, subscribe now!!!",
        "Get free followers fast, share this to 10 groups",
    ],
    "none": [
        "Le marché de {city} est ouvert dimanche matin, venez nombreux",
        "Quelqu'un a une bonne recette de tarte aux pommes ?",
        "Débat ce soir sur la légalisation du cannabis à {city}",
        "La police a saisi {drug_fr} lors d'une opération à {city}",
        "Formation à la sécurité pour les chasseurs, détention d'un {gun_fr} avec permis",
        "Attention aux arnaques : ne donnez jamais votre code par téléphone",
        "Où regarder {show} légalement ? Sur la chaîne officielle",
        "Exposition sur l'histoire du terrorisme au musée de {city}",
        "The {city} market opens Sunday morning, everyone welcome",
        "Does anyone have a good apple pie recipe?",
        "Police seized {drug_en} in a raid in {city} last night",
        "Hunter safety course: owning a {gun_en} requires a licence",
        "Beware of scams: never share your verification code",
        "Where to watch {show_en} legally? On the official app",
        "Documentary on the history of terrorism at the {city} museum",
        "Free, anonymous drug support drop-in at the {city} library",
    ],
}


# Wider wording, written for v2 after the cross-source evaluation showed that the first
# templates' vocabulary is what the models learnt: street slang, coded terms, grooming moves,
# impersonation scams, and look-alikes that quote or report an offence. These are separate
# from the hand-written evaluation posts (bench/data/handwritten_eval.jsonl), by a different
# pass of writing; both come from this project, which the model card states.
SLOTS.update(
    {
        "slang_en": ["gas", "loud", "zaza", "snow", "white", "bars", "tabs", "ket", "crystal"],
        "slang_fr": ["frappe", "verte", "jaune", "C", "md", "kéta", "3mmc", "buvards", "shit"],
        "unit_en": ["zips", "eighths", "grams", "half Os", "points"],
        "unit_fr": ["pochons", "barrettes", "grammes", "plaquettes"],
        "app": ["snap", "telegram", "kik", "discord", "session", "signal", "whatsapp"],
        "age": ["11", "12", "13", "14", "15"],
        "minor_en": ["minors", "underage girls", "young boys", "preteens", "kids"],
        "minor_fr": ["mineurs", "mineures", "gamines", "ados de 13 ans", "enfants"],
        "coded": ["cp", "pthc", "pedo packs", "jb content", "young folders", "loli real"],
        "gun_slang": ["strap", "piece", "burner", "tool", "ghost gun", "switch"],
        "brand": ["La Poste", "Ameli", "ta banque", "les impôts", "Chronopost", "la CAF"],
        "brand_en": ["Royal Mail", "HMRC", "your bank", "PayPal", "DHL", "Amazon"],
        "soft": ["Photoshop", "Office", "Windows 11", "FIFA", "AutoCAD", "Premiere"],
        "people_fr": ["ces gens-là", "les migrants", "les Arabes", "les Noirs", "les trans"],
        "people_en": ["those people", "migrants", "Arabs", "trans people", "Roma", "Asians"],
    }
)
MORE_TEMPLATES: dict[str, list[str]] = {
    "drug_sales": [
        "{slang_en} back in, {unit_en} going fast, tap in on {app}",
        "need a plug? got {slang_en} and {slang_en}, can drop tonight in {city}",
        "who wants a re-up, {slang_en} just touched down, hmu",
        "stealth shipping, reship if lost, {slang_en} in stock, pay in monero",
        "{slang_fr} dispo, {unit_fr} de 10 et 20, passe au bâtiment B",
        "le four est ouvert ce soir, {slang_fr} de qualité, snap en bio",
        "je livre {slang_fr} et {slang_fr} sur {city}, écris moi sur {app}",
        "cherche revendeurs, marchandise de qualité, gros volumes, {slang_fr}",
        "pills for the weekend, {price} each, message me",
        "cachets sans ordonnance, envoi rapide, paiement crypto",
    ],
    "weapons": [
        "anyone need a {gun_slang}? clean, no bodies, cash only",
        "got a {gun_slang} for sale, serial scratched, meet in {city}",
        "80% lowers and auto switches, ship in a plain box",
        "qui cherche un calibre ? propre, jamais servi, MP sur {app}",
        "arme sans permis dispo, {price} €, pas de questions",
        "pistolet d'alarme modifié, tire à balles réelles, envoi possible",
        "printed frames, no serial number, files on {app}",
        "je cède une arme de poing, numéro effacé, main propre à {city}",
    ],
    "scams_fraud": [
        "hi mum, new number, phone broke, can you send {price} for rent today",
        "{brand_en}: your account is suspended, verify your card at the link",
        "{brand_en}: a fee of 1.99 is due to release your parcel, pay here",
        "send {price} and I will flip it into ten times that, testimonials on {app}",
        "selling fullz and CVVs, fresh, high balance",
        "fake passports and driving licences, scannable, fast delivery",
        "coucou maman j'ai changé de numéro, tu peux me virer {price} € c'est urgent",
        "{brand} : votre dossier est bloqué, réglez les frais sur ce lien",
        "{brand} vous doit un remboursement, saisissez votre carte bancaire",
        "donnez-moi le code reçu par SMS pour annuler la fraude, je suis votre conseiller",
        "faux billets de 50 et faux papiers, qualité parfaite",
        "prêt sans justificatif, payez les frais de dossier d'avance",
    ],
    "piracy": [
        "cracked {soft}, activated forever, drive link below",
        "sharing my streaming login for {price} a month, spots left",
        "leaked album in FLAC before release, on my {app}",
        "{soft} crack et clé d'activation, téléchargement direct",
        "je partage mon compte Netflix pour {price} € par mois",
        "tous les matchs sans abonnement, lien sur {app}",
    ],
    "terrorism": [
        "pledge allegiance and prepare, the hour is near, brothers",
        "lone wolves need no orders, pick up a knife and act",
        "the race war is coming, stockpile and choose your targets",
        "here is how to build the device, share only with trusted brothers",
        "prêtez allégeance et préparez-vous, l'heure approche",
        "loups solitaires, pas besoin d'ordres, passez à l'action",
        "voici comment fabriquer l'engin, ne partagez qu'entre frères",
        "l'auteur de la tuerie est un héros, suivez son exemple",
    ],
    "hate_speech": [
        "{people_en} are a disease on this country and should be removed",
        "{people_en} are all criminals, never let them near your family",
        "the world would be better without {target_en}",
        "{people_fr} sont une plaie, qu'ils retournent chez eux",
        "{people_fr} sont tous des délinquants, il faut les chasser",
        "le pays irait mieux sans {target_fr}",
    ],
    "csam_indicators": [
        "{coded} for trade, young only, add me on {app}",
        "buying videos of {minor_en}, paying in crypto",
        "you're {age}? don't tell your parents we talk, add me on {app}",
        "send me a photo, it's our secret, you're {age} so nobody needs to know",
        "échange {coded}, jeunes uniquement, contact {app}",
        "j'achète des vidéos de {minor_fr}, paiement discret",
        "tu as {age} ans ? dis rien à tes parents, viens sur {app}",
        "envoie une photo, c'est notre secret, efface la conversation",
    ],
    "doxxing": [
        "this is where the cop who arrested our brother lives: {street}, you know what to do",
        "full dox on {name}: {street}, phone {phone}, parents and school below",
        "voici où habite le flic : {street}, ses enfants vont à l'école du quartier",
        "dox complet de {name} : {street}, {phone}, faites tourner",
    ],
    "spam": [
        "follow for follow, like all my posts and I like back",
        "buy cheap followers, 1000 for {price}, real accounts",
        "replica watches best quality, worldwide shipping",
        "suivez-moi, like pour like, je rends tout",
        "pronos 100% gagnants sur mon {app}, rejoins vite",
        "montres répliques de luxe, livraison mondiale",
    ],
    "none": [
        "Someone sprayed '{target_en} out' on the wall. Disgusting, we stand with our neighbours",
        "Calling {target_en} vermin is hate speech and should be reported",
        "Quelqu'un a écrit « dehors {target_fr} » sur le mur, c'est honteux",
        "Dire que {target_fr} sont des parasites, c'est de la haine, signalez-le",
        "If an adult asks your child to keep secrets or move to {app}, tell the police",
        "Si un adulte demande à votre enfant de passer sur {app} en secret, signalez-le",
        "Warning: fake {brand_en} texts are going round, never click the link",
        "Attention aux faux SMS {brand}, ne donnez jamais vos coordonnées",
        "Court jails man who sold {gun_en} without a licence in {city}",
        "Un homme condamné à {city} pour vente de {gun_fr} sans permis",
        "Free drug checking at the festival, test your {slang_en} anonymously",
        "Two years clean from {drug_en} today, thank you all",
        "Deux ans sans {drug_fr} aujourd'hui, merci pour votre soutien",
        "Selling my old bike, {price}, collection in {city}",
        "Je vends mon canapé, {price} €, à récupérer à {city}",
        "Our office is at {street}, call {phone} from 9 to 5",
    ],
}
for _label, _more in MORE_TEMPLATES.items():
    TEMPLATES[_label] = TEMPLATES[_label] + _more


def fill(template: str, rng: random.Random) -> str:
    def choose(match: re.Match[str]) -> str:
        return rng.choice(SLOTS[match.group(1)])

    text = re.sub(r"\{(\w+)\}", choose, template)
    variants = [text, text.lower(), text + " !", text + " 🔥", "📢 " + text, text.upper()]
    return rng.choice(variants)


WRITTEN = Path(__file__).parent / "data" / "written_hate.json"
# Each written post naming a group ({community_en}, {community_fr}) is filled this many times.
WRITTEN_FILLS = 3


def synthetic(rng: random.Random, per_template: int, written: bool = True) -> tuple[list, list]:
    train, test = [], []
    for label, templates in TEMPLATES.items():
        for index, template in enumerate(templates):
            # Every fifth template, and only those, is held out.
            bucket = test if index % 5 == 4 else train
            for _ in range(per_template):
                bucket.append((fill(template, rng), label))
    if written:
        # After the templates, so their fills (and embedding caches) stay as they were.
        for posts in written_posts():
            for index, post in enumerate(posts["posts"]):
                bucket = test if index % 5 == 4 else train
                for _ in range(WRITTEN_FILLS if "{" in post else 1):
                    bucket.append((fill(post, rng), posts["label"]))
    return train, test


def written_posts() -> list[dict]:
    """The hate posts and look-alikes written as whole posts (``data/written_hate.json``):
    ToxiGen-free English hate beyond the templates' slogans; their group slots join SLOTS."""
    data = json.loads(WRITTEN.read_text(encoding="utf-8"))
    SLOTS.update(data["slots"])
    lists: list[dict] = data["lists"]
    return lists


def public(data: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for path in sorted((data / "toxigen").glob("*_1k.txt")):
        label = "hate_speech" if path.name.startswith("hate_") else "none"
        for line in path.read_text(encoding="utf-8").splitlines():
            for sentence in line.split("\\n"):
                sentence = sentence.strip().lstrip("- ").strip()
                if len(sentence) > 12:
                    rows.append((sentence, label))
    scam = re.compile(r"(won|winner|prize|claim|award|guaranteed|cash|£\d|urgent)", re.I)
    for line in (data / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8").splitlines():
        tag, _, text = line.partition("\t")
        if tag == "ham":
            rows.append((text, "none"))
        elif tag == "spam":
            rows.append((text, "scams_fraud" if scam.search(text) else "spam"))
    import csv

    with (data / "fr_multilingual_hatecheck" / "hatecheck_cases_final_french.csv").open(
        encoding="utf-8"
    ) as handle:
        for row in csv.DictReader(handle):
            rows.append(
                (row["test_case"], "hate_speech" if row["label_gold"] == "hateful" else "none")
            )
    return list(dict.fromkeys(rows))


def split(rows: list[tuple[str, str]]) -> tuple[list, list]:
    train, test = [], []
    for text, label in rows:
        digest = hashlib.sha256(text.encode()).digest()[0]
        (test if digest < 26 else train).append((text, label))
    return train, test


def vectorise(rows: list[tuple[str, str]]) -> tuple[list, np.ndarray]:
    feats = [features(text, BITS) for text, _ in rows]
    labels = np.array([CATEGORIES.index(label) for _, label in rows])
    return feats, labels


def train(
    rows: list[tuple[str, str]], epochs: int, seed: int, version: str = VERSION
) -> NgramClassifier:
    feats, labels = vectorise(rows)
    classes = len(CATEGORIES)
    weights = np.zeros((2**BITS, classes), dtype=np.float32)
    bias = np.zeros(classes, dtype=np.float32)
    counts = np.bincount(labels, minlength=classes).astype(np.float32)
    # Rare categories count more, so "none" does not swallow them.
    class_weight = (counts.sum() / np.maximum(counts, 1) / classes) ** 0.8
    rng = np.random.default_rng(seed)
    rate, l2 = 0.5, 1e-6
    for epoch in range(epochs):
        for i in rng.permutation(len(feats)):
            buckets, values = feats[i]
            logits = values @ weights[buckets] + bias
            logits -= logits.max()
            p = np.exp(logits)
            p /= p.sum()
            p[labels[i]] -= 1.0
            grad = p * class_weight[labels[i]]
            weights[buckets] -= rate * (np.outer(values, grad) + l2 * weights[buckets])
            bias -= rate * 0.1 * grad
        rate *= 0.6
        print(f"  epoch {epoch + 1}/{epochs}")
    return NgramClassifier(weights=weights, bias=bias, categories=CATEGORIES, version=version)


def evaluate(model: NgramClassifier, rows: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    predicted = [r.top for r in model.classify([t for t, _ in rows])]
    truth = [label for _, label in rows]
    report = {}
    for category in CATEGORIES:
        tp = sum(p == category == t for p, t in zip(predicted, truth, strict=True))
        fp = sum(p == category != t for p, t in zip(predicted, truth, strict=True))
        fn = sum(t == category != p for p, t in zip(predicted, truth, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[category] = {
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "support": tp + fn,
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--per-template", type=int, default=40)
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the weights")
    args = parser.parse_args()
    rng = random.Random(2026)
    synthetic_train, synthetic_test = synthetic(rng, args.per_template)
    public_train, public_test = split(public(args.data))
    training = synthetic_train + public_train
    print(f"training on {len(training)} texts: {Counter(label for _, label in training)}")
    model = train(training, args.epochs, seed=2026, version=args.version)
    report = {
        "synthetic_held_out_templates": evaluate(model, synthetic_test),
        "public_held_out": evaluate(model, public_test),
    }
    print(json.dumps(report, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "version": args.version,
        "bits": BITS,
        "categories": list(CATEGORIES),
        "training_rows": len(training),
        "sources": [
            "toxigen (MIT, CDLA-Permissive-2.0)",
            "sms_spam (UCI, cite Almeida et al.)",
            "fr_multilingual_hatecheck (CC BY 4.0)",
            "rempart synthetic templates",
        ],
        "evaluation": report,
    }
    model.save(args.out / f"{args.version}.npz", manifest)
    (args.out / f"{args.version}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {args.out / args.version}.npz")


if __name__ == "__main__":
    main()

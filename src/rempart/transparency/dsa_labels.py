"""The labels of the DSA transparency templates (Implementing Regulation (EU) 2024/2835,
Annex I) as the Commission's CSV files spell them: the content categories with their codes,
the Member States and languages, the restrictions and the applicability notes, and how
Rempart's own categories map onto them (docs/dsa-templates.md). Data only, standard library
only: ``make verifier`` inlines it into ``verify_report.py`` with ``dsa_templates.py``."""

from __future__ import annotations

# (label, description, code). Sub-categories follow their high-level category; the code
# KEYWORD_OTHER recurs, so a row is named by its label.
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("TOTAL", "All the entries", "TOTAL"),
    ("Category 1", "Animal welfare", "STATEMENT_CATEGORY_ANIMAL_WELFARE"),
    ("Category 1a", "Animal harm", "KEYWORD_ANIMAL_HARM"),
    ("Category 1b", "Unlawful sale of animals", "KEYWORD_UNLAWFUL_SALE_ANIMALS"),
    ("Category 1c", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 2", "Consumer information infringements", "STATEMENT_CATEGORY_CONSUMER_INFORMATION"),
    (
        "Category 2a",
        "Hidden advertisement or commercial communication, including by influencers",
        "KEYWORD_HIDDEN_ADVERTISEMENT",
    ),
    (
        "Category 2b",
        "Insufficient information on traders",
        "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
    ),
    (
        "Category 2c",
        "Misleading information about the characteristics of the goods and services",
        "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
    ),
    (
        "Category 2d",
        "Misleading information about the consumer’s rights",
        "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
    ),
    ("Category 2e", "Non-compliance with pricing regulations", "KEYWORD_NONCOMPLIANCE_PRICING"),
    ("Category 2f", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 3", "Cyber violence", "STATEMENT_CATEGORY_CYBER_VIOLENCE"),
    ("Category 3a", "Cyber bullying and intimidation", "KEYWORD_CYBER_BULLYING_INTIMIDATION"),
    ("Category 3b", "Cyber harassment", "KEYWORD_CYBER_HARASSMENT"),
    ("Category 3c", "Cyber incitement to hatred or violence", "KEYWORD_CYBER_INCITEMENT"),
    ("Category 3d", "Cyber stalking", "KEYWORD_CYBER_STALKING"),
    (
        "Category 3e",
        "Non-consensual (intimate) material sharing, including (image-based) sexual abuse "
        "(excluding content depicting minors)",
        "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
    ),
    (
        "Category 3f",
        "Non-consensual sharing of material containing deepfake or similar technology using a "
        "third party's features (excluding content depicting minors)",
        "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
    ),
    ("Category 3g", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    (
        "Category 4",
        "Cyber violence against women",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    ),
    (
        "Category 4a",
        "Cyber bullying and intimidation against girls",
        "KEYWORD_BULLYING_AGAINST_GIRLS",
    ),
    ("Category 4b", "Cyber harassment against women", "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN"),
    ("Category 4c", "Cyber stalking against women", "KEYWORD_CYBER_STALKING_AGAINST_WOMEN"),
    ("Category 4d", "Gendered disinformation", "KEYWORD_FEMALE_GENDERED_DISINFORMATION"),
    (
        "Category 4e",
        "Illegal incitement to violence and hatred against women",
        "KEYWORD_INCITEMENT_AGAINST_WOMEN",
    ),
    (
        "Category 4f",
        "Non-consensual (intimate) material sharing against women, including (image-based) "
        "sexual abuse against women (excluding content depicting minors)",
        "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
    ),
    (
        "Category 4g",
        "Non-consensual sharing of material containing deepfake or similar technology using a "
        "third party's features against women (excluding content depicting minors)",
        "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
    ),
    ("Category 4h", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    (
        "Category 5",
        "Data protection and privacy violations",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    ),
    ("Category 5a", "Biometric data breach", "KEYWORD_BIOMETRIC_DATA_BREACH"),
    ("Category 5b", "Data falsification", "KEYWORD_DATA_FALSIFICATION"),
    ("Category 5c", "Missing processing ground for data", "KEYWORD_MISSING_PROCESSING_GROUND"),
    ("Category 5d", "Right to be forgotten", "KEYWORD_RIGHT_TO_BE_FORGOTTEN"),
    ("Category 5e", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 6", "Illegal or harmful speech", "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"),
    ("Category 6a", "Defamation", "KEYWORD_DEFAMATION"),
    ("Category 6b", "Discrimination", "KEYWORD_DISCRIMINATION"),
    (
        "Category 6c",
        "Illegal incitement to violence and hatred based on protected characteristics "
        "(hate speech)",
        "KEYWORD_HATE_SPEECH",
    ),
    ("Category 6d", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    (
        "Category 7",
        "Intellectual property infringements",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    ),
    ("Category 7a", "Copyright infringements", "KEYWORD_COPYRIGHT_INFRINGEMENT"),
    ("Category 7b", "Design infringements", "KEYWORD_DESIGN_INFRINGEMENT"),
    (
        "Category 7c",
        "Geographical indications infringements",
        "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
    ),
    ("Category 7d", "Patent infringements", "KEYWORD_PATENT_INFRINGEMENT"),
    ("Category 7e", "Trade secret infringements", "KEYWORD_TRADE_SECRET_INFRINGEMENT"),
    ("Category 7f", "Trademark infringements", "KEYWORD_TRADEMARK_INFRINGEMENT"),
    ("Category 7g", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    (
        "Category 8",
        "Negative effects on civic discourse or elections",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    ),
    (
        "Category 8a",
        "Misinformation, disinformation, foreign information manipulation and interference",
        "KEYWORD_MISINFORMATION_DISINFORMATION",
    ),
    (
        "Category 8b",
        "Violation of EU law relevant to civic discourse or elections",
        "KEYWORD_VIOLATION_EU_LAW",
    ),
    (
        "Category 8c",
        "Violation of national law relevant to civic discourse or elections",
        "KEYWORD_VIOLATION_NATIONAL_LAW",
    ),
    ("Category 8d", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 9", "Protection of minors", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"),
    (
        "Category 9a",
        "Age-specific restrictions concerning minors",
        "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
    ),
    ("Category 9b", "Child sexual abuse material", "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"),
    (
        "Category 9c",
        "Child sexual abuse material containing deepfake or similar technology",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    ),
    (
        "Category 9d",
        "Grooming/sexual enticement of minors",
        "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
    ),
    ("Category 9e", "Unsafe challenges", "KEYWORD_UNSAFE_CHALLENGES"),
    ("Category 9f", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 10", "Risk for public security", "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"),
    ("Category 10a", "Illegal organizations", "KEYWORD_ILLEGAL_ORGANIZATIONS"),
    ("Category 10b", "Risk for environmental damage", "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE"),
    ("Category 10c", "Risk for public health", "KEYWORD_RISK_PUBLIC_HEALTH"),
    ("Category 10d", "Terrorist content", "KEYWORD_TERRORIST_CONTENT"),
    ("Category 10e", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 11", "Scams and/or fraud", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"),
    (
        "Category 11a",
        "Impersonation or account hijacking",
        "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
    ),
    ("Category 11b", "Inauthentic accounts", "KEYWORD_INAUTHENTIC_ACCOUNTS"),
    ("Category 11c", "Inauthentic listings", "KEYWORD_INAUTHENTIC_LISTINGS"),
    ("Category 11d", "Inauthentic user reviews", "KEYWORD_INAUTHENTIC_USER_REVIEWS"),
    ("Category 11e", "Phishing", "KEYWORD_PHISHING"),
    ("Category 11f", "Pyramid schemes", "KEYWORD_PYRAMID_SCHEMES"),
    ("Category 11g", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 12", "Self-harm", "STATEMENT_CATEGORY_SELF_HARM"),
    (
        "Category 12a",
        "Content promoting eating disorders",
        "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
    ),
    ("Category 12b", "Self-mutilation", "KEYWORD_SELF_MUTILATION"),
    ("Category 12c", "Suicide", "KEYWORD_SUICIDE"),
    ("Category 12d", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    (
        "Category 13",
        "Unsafe, non-compliant or prohibited products",
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    ),
    ("Category 13a", "Prohibited or restricted products", "KEYWORD_PROHIBITED_PRODUCTS"),
    ("Category 13b", "Unsafe or non-compliant products", "KEYWORD_UNSAFE_PRODUCTS"),
    ("Category 13c", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    ("Category 14", "Violence", "STATEMENT_CATEGORY_VIOLENCE"),
    ("Category 14a", "Coordinated harm", "KEYWORD_COORDINATED_HARM"),
    (
        "Category 14b",
        "General calls or incitement to violence and/or hatred",
        "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
    ),
    ("Category 14c", "Human exploitation", "KEYWORD_HUMAN_EXPLOITATION"),
    ("Category 14d", "Human trafficking", "KEYWORD_HUMAN_TRAFFICKING"),
    ("Category 14e", "Trafficking in women and girls", "KEYWORD_TRAFFICKING_WOMEN_GIRLS"),
    ("Category 14f", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    (
        "Category 15",
        "Other violation of provider’s terms and conditions",
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    ),
    ("Category 15a", "Adult sexual material", "KEYWORD_ADULT_SEXUAL_MATERIAL"),
    ("Category 15b", "Age-specific restrictions", "KEYWORD_AGE_SPECIFIC_RESTRICTIONS"),
    ("Category 15c", "Geographical requirements", "KEYWORD_GEOGRAPHICAL_REQUIREMENTS"),
    (
        "Category 15d",
        "Goods/services not permitted to be offered on the platform",
        "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
    ),
    ("Category 15e", "Language requirements", "KEYWORD_LANGUAGE_REQUIREMENTS"),
    ("Category 15f", "Nudity", "KEYWORD_NUDITY"),
    ("Category 15g", "Not captured by any other sub-category", "KEYWORD_OTHER"),
    (
        "Category 16",
        "Type of illegal content not specified by the public authority",
        "STATEMENT_CATEGORY_NOT_SPECIFIED_ORDER",
    ),
    (
        "Category 17",
        "Type of alleged illegal content not specified by the notifier",
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    ),
)
NOT_SPECIFIED_ORDER = "Category 16"
NOT_SPECIFIED_NOTICE = "Category 17"
# The Member States as the templates list them ("AT, […], SE": by English name), with
# Eurostat's codes: Greece is EL here, GR in Rempart's orders and statements of reasons.
MEMBER_STATES = (
    "AT BE BG HR CY CZ DK EE FI FR DE EL HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
EUROSTAT = {"GR": "EL"}
# The official languages ("bg, […], sv"), for the rows only VLOPs fill in.
LANGUAGES = "bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv".split()

# Rempart's categories of notices and decisions (moderation/data/policy.json; a test keeps
# the two equal) as the template's high-level category and sub-category.
POLICY_CATEGORIES = {
    "csam_indicators": ("Category 9", "Category 9b"),
    "terrorism": ("Category 10", "Category 10d"),
    "weapons": ("Category 13", "Category 13a"),
    "drug_sales": ("Category 13", "Category 13a"),
    "doxxing": ("Category 5", "Category 5e"),
    "scams_fraud": ("Category 11", "Category 11e"),
    "hate_speech": ("Category 6", "Category 6c"),
    "piracy": ("Category 7", "Category 7a"),
    "spam": ("Category 15", "Category 15g"),
}
# The offences an authority names in an order (legal OffenceCategory). "other" and an
# offence the order leaves out go to Category 16: Rempart records nothing finer.
OFFENCE_CATEGORIES = {
    "terrorism": ("Category 10", "Category 10d"),
    "child_sexual_abuse": ("Category 9", "Category 9b"),
    "drug_trafficking": ("Category 13", "Category 13a"),
    "weapons_trafficking": ("Category 13", "Category 13a"),
    "fraud": ("Category 11", "Category 11g"),
    "cybercrime": ("Category 10", "Category 10e"),
    "human_trafficking": ("Category 14", "Category 14d"),
    "homicide": ("Category 14", "Category 14f"),
    "organised_crime": ("Category 10", "Category 10a"),
    "hate_crime": ("Category 6", "Category 6c"),
    "threats": ("Category 14", "Category 14f"),
}
# What a "Not captured by any other sub-category" row holds, as Annex II requires: for
# orders (part 3), and for notices and decisions (parts 4 to 6).
ORDER_OTHERS = {
    "Category 10e": "Cybercrime",
    "Category 11g": "Fraud",
    "Category 14f": "Homicide; threats",
}
POLICY_OTHERS = {
    "Category 5e": "Doxxing: publication of personal data to harm",
    "Category 15g": "Spam",
}
# Restrictions Rempart imposes (moderation/statements.py) and the template's column.
RESTRICTIONS = {
    "remove_content": "Visibility restriction Removal",
    "remove_from_search": "Visibility restriction Demoted",
    "suspend_entity": "Provision of the service Suspension",
    "suspend_account": "Account restriction Suspension",
}
OTHER_RESTRICTION = "Visibility restriction Other"
NEVER_IMPOSED = (
    "Visibility restriction Disable",
    "Visibility restriction Age restricted",
    "Visibility restriction Interaction restricted",
    "Visibility restriction Labelled ",
    "Monetary restriction Suspension",
    "Monetary restriction Termination",
    "Monetary restriction Other",
    "Provision of the service Termination",
    "Account restriction Termination",
)
RESTRICTION_COLUMNS = (
    "Visibility restriction Removal",
    "Visibility restriction Disable",
    "Visibility restriction Demoted",
    "Visibility restriction Age restricted",
    "Visibility restriction Interaction restricted",
    "Visibility restriction Labelled ",
    "Visibility restriction Other",
    "Monetary restriction Suspension",
    "Monetary restriction Termination",
    "Monetary restriction Other",
    "Provision of the service Suspension",
    "Provision of the service Termination",
    "Account restriction Suspension",
    "Account restriction Termination",
)

TEMPLATE_FILES = (
    "1_summary.csv",
    "2_categories_names.csv",
    "3_member_states_orders.csv",
    "4_notices.csv",
    "5_own_initiative_illegal.csv",
    "6_own_initiative_TC.csv",
    "7_appeals_and_recidivism.csv",
    "8_automated_means.csv",
    "9_human_resources.csv",
    "10_AMAR.csv",
    "11_qualitative.csv",
)
ALL = "All"
HOSTING = "Only for providers of hosting services, including online platforms"
PLATFORMS = "Only for providers of online platforms"
VLOPS = "Only for VLOPs"
VLOPS_AND_VLOSES = "Only for VLOPs and VLOSEs"
NOT_APPLICABLE = "Not applicable: Rempart cannot impose or record this."
ONE_ITEM = "Each notice names exactly one item of information."

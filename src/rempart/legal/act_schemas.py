"""What an order to act (DSA Art. 9) or a TCO removal order carries (Annex I of Regulation
2021/784), and a legal reviewer's confirmation of one. The views of their outcome
(``ActRead``) sit with the other order views in ``schemas``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from rempart.legal.schemas import (
    Code,
    OffenceCategory,
    OrderDocumentRef,
    OrderType,
    Text,
    _Closed,
)

# The EU's Member States, the only places a territorial scope may name.
EU_MEMBER_STATE_CODES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
EU_WIDE = "EU"
MAX_ITEMS = 100
ItemRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]


class ActItem(_Closed):
    """An item named by the platform's public link (``url``), or by kind and id."""

    kind: Literal["post", "entity"] | None = None
    id: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
        | None
    ) = None
    url: ItemRef | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ActItem:
        if (self.url is None) == (self.kind is None or self.id is None):
            raise ValueError("name each item by url, or by kind and id, not both")
        return self

    @property
    def label(self) -> str:
        return self.url or f"{self.kind}:{self.id}"


class ActOrderClaims(_Closed):
    """The payload of an order to act (DSA Art. 9) or a TCO removal order (Annex I of
    Regulation 2021/784): what to act against, where, on what basis and why."""

    iss: Code
    iat: int = Field(ge=0)
    exp: int = Field(ge=0)
    jti: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]
    order_type: Literal[OrderType.ACT, OrderType.REMOVAL]
    case_reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)
    ]
    legal_basis: Text
    statement_of_reasons: Text
    items: list[ActItem] = Field(min_length=1, max_length=MAX_ITEMS)
    # Member States (ISO alpha-2, Greece as GR) where the content must be disabled, or
    # ["EU"] for removal everywhere.
    territorial_scope: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = Field(
        min_length=1, max_length=28
    )
    # TCO Art. 11(3), DSA Art. 9(2)(a): the authority may ask that the content's owner
    # hear of the removal only later, for the needs of an investigation.
    delay_informing_owner: bool = False
    # Orders to act under Art. 9 give their own deadline; a removal order's is one hour.
    deadline: AwareDatetime | None = None
    # The type of illegal content, which the DSA report groups orders by; a removal
    # order's is terrorism.
    offence_category: OffenceCategory | None = None
    document: OrderDocumentRef

    @model_validator(mode="after")
    def _consistent(self) -> ActOrderClaims:
        if self.exp <= self.iat:
            raise ValueError("exp must come after iat")
        if len(set(self.items)) != len(self.items):
            raise ValueError("each item may be named once")
        scope = set(self.territorial_scope)
        if len(scope) != len(self.territorial_scope):
            raise ValueError("each Member State may be named once")
        if EU_WIDE in scope and len(scope) > 1:
            raise ValueError('the scope is either ["EU"] or a list of Member States')
        if not scope <= EU_MEMBER_STATE_CODES | {EU_WIDE}:
            raise ValueError("the territorial scope names only EU Member States, or EU")
        if self.order_type is OrderType.ACT and self.deadline is None:
            raise ValueError("an order to act gives its deadline")
        if self.order_type is OrderType.REMOVAL and self.deadline is not None:
            raise ValueError("a removal order is executed within one hour; it sets no deadline")
        if self.order_type is OrderType.REMOVAL and self.offence_category not in (
            None,
            OffenceCategory.TERRORISM,
        ):
            raise ValueError("a removal order concerns terrorist content")
        return self

    @property
    def eu_wide(self) -> bool:
        return self.territorial_scope == [EU_WIDE]


class ActConfirmation(_Closed):
    """A legal reviewer's single confirmation of an order to act (DSA Art. 9): no four-eyes
    review, since nothing is disclosed."""

    decision: Literal["confirm", "refuse"]
    reasons: Text

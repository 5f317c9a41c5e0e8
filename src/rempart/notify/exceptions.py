from __future__ import annotations

from rempart.core.errors import Conflict, NotFound


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"


class DeliveryPending(Conflict):
    code = "delivery_pending"


class WebhookNotConfigured(Conflict):
    code = "webhook_not_configured"

"""Messages to users and authorities: the audited send every domain calls, and the signed
webhook's delivery, dead letters and replay. The port itself is ``rempart.core.notify``."""

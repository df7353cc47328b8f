"""Per-user notification preferences (pure).

Stored as overrides of the defaults: a user who never set anything gets e-mails for
their own requests' decisions and their products (ready or failed), operators also
for the review queue, membership applications, ingest rejections and delivery
failures. `digest` (operators) gathers the operations e-mails into one per interval.
The live stream and webhooks are not per-kind preferences: a stream shows what
its viewer may see, a webhook filters by the event types it was registered with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dinamis_notify.domain.routing import OPERATIONS_KINDS, Kind

DEFAULT_EMAIL: dict[Kind, bool] = dict.fromkeys(Kind, True)
DEFAULT_EMAIL[Kind.REQUEST_RECEIVED] = False  # the person just submitted it: the web page says so

Language = Literal["fr", "en"]


class PreferencesUpdate(BaseModel):
    """Body of `PUT /v1/preferences`: what the caller changes (absent = unchanged)."""

    model_config = ConfigDict(extra="forbid")

    email: dict[Kind, bool] | None = Field(default=None, description="E-mail on/off per kind.")
    digest: bool | None = Field(default=None, description="Operations e-mails as a periodic digest.")
    language: Language | None = Field(default=None, description="Overrides the account's language.")


class Preferences(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: dict[Kind, bool] = Field(default_factory=dict)
    digest: bool = False
    language: Language | None = None

    def wants_email(self, kind: Kind) -> bool:
        return self.email.get(kind, DEFAULT_EMAIL[kind])

    def digests(self, kind: Kind) -> bool:
        return self.digest and kind in OPERATIONS_KINDS

    def merged(self, update: PreferencesUpdate) -> Preferences:
        email = dict(self.email)
        if update.email is not None:
            email.update(update.email)
        return Preferences(
            email=email,
            digest=self.digest if update.digest is None else update.digest,
            language=update.language if "language" in update.model_fields_set else self.language,
        )

    def effective(self, staff: bool) -> dict:
        kinds = [k for k in Kind if staff or k not in OPERATIONS_KINDS]
        return {
            "email": {k.value: self.wants_email(k) for k in kinds},
            "digest": self.digest,
            "language": self.language,
        }

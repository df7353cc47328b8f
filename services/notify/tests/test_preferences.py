from dinamis_notify.domain.preferences import Preferences, PreferencesUpdate
from dinamis_notify.domain.routing import OPERATIONS_KINDS, Kind


def test_defaults():
    p = Preferences()
    assert p.wants_email(Kind.REQUEST_APPROVED) and p.wants_email(Kind.PRODUCT_READY)
    assert p.wants_email(Kind.PRODUCT_FAILED) and p.wants_email(Kind.REVIEW_QUEUE)
    assert not p.wants_email(Kind.REQUEST_RECEIVED)
    assert not p.digests(Kind.REVIEW_QUEUE)


def test_update_merges_and_digest_applies_to_operations_kinds_only():
    p = Preferences().merged(PreferencesUpdate(email={Kind.PRODUCT_READY: False}, digest=True, language="en"))
    assert not p.wants_email(Kind.PRODUCT_READY) and p.wants_email(Kind.PRODUCT_FAILED)
    assert p.digests(Kind.INGEST_REJECTION) and not p.digests(Kind.PRODUCT_FAILED)
    assert p.language == "en"
    assert p.merged(PreferencesUpdate(digest=False)).language == "en"  # absent = unchanged
    assert p.merged(PreferencesUpdate(language=None)).language is None  # explicit null resets


def test_members_do_not_see_operations_kinds():
    member = Preferences().effective(staff=False)["email"]
    staff = Preferences().effective(staff=True)["email"]
    assert not set(member) & {k.value for k in OPERATIONS_KINDS}
    assert set(staff) == {k.value for k in Kind}

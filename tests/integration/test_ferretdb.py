"""FerretDB through PyMongo's async API: only what FerretDB 1.24 and MongoDB 7 share."""

from __future__ import annotations

import uuid

import pytest
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from dinamis_shared import clients


@pytest.fixture
async def db(settings):
    client = clients.mongo_client(settings)
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


async def test_insert_find_update(db):
    orgs = db.organisations
    res = await orgs.insert_many(
        [
            {
                "_id": "org-a",
                "category": "french-research",
                "members": 3,
                "footprint_bbox": [4.9, 45.7, 5.0, 45.8],
            },
            {"_id": "org-b", "category": "french-public-body", "members": 1},
        ]
    )
    assert res.inserted_ids == ["org-a", "org-b"]
    found = await orgs.find({"category": "french-research"}).to_list()
    assert [d["_id"] for d in found] == ["org-a"]
    assert found[0]["footprint_bbox"] == [4.9, 45.7, 5.0, 45.8]

    updated = await orgs.find_one_and_update(
        {"_id": "org-a", "members": 3},  # conditional update (sequential here: under concurrency
        # FerretDB 1.24 does not make it atomic, see test_quota_ledger.py)
        {"$inc": {"members": 1}, "$set": {"status": "active"}},
        return_document=ReturnDocument.AFTER,
    )
    assert updated["members"] == 4 and updated["status"] == "active"
    stale = await orgs.update_one({"_id": "org-a", "members": 3}, {"$inc": {"members": 1}})
    assert stale.modified_count == 0
    assert await orgs.count_documents({}) == 2


async def test_unique_index_refuses_duplicates(db):
    keys = db.api_keys
    await keys.create_index([("access_key", ASCENDING)], unique=True, name="access_key_unique")
    await keys.insert_one({"access_key": "AK1", "secret_hash": "x"})
    with pytest.raises(DuplicateKeyError):
        await keys.insert_one({"access_key": "AK1", "secret_hash": "y"})
    info = await keys.index_information()
    assert info["access_key_unique"]["unique"] is True
    assert await keys.count_documents({"access_key": "AK1"}) == 1

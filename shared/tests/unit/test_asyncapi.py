from pathlib import Path

import yaml

from dinamis_shared import asyncapi
from dinamis_shared.topics import all_topic_names

DOC = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"


def test_docs_asyncapi_is_up_to_date():
    assert DOC.read_text() == asyncapi.render(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_every_topic_is_a_channel():
    doc = yaml.safe_load(asyncapi.render())
    assert set(doc["channels"]) == set(all_topic_names())

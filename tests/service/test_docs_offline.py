"""The API docs page loads every asset from this server (issue 15, defect 6)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aquaembed.service import Settings, create_app

API = "/api/v1"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("empty")
    with TestClient(create_app(Settings(data_dir=Path(data)), dashboard=False), base_url="http://127.0.0.1") as c:
        yield c


@pytest.mark.parametrize("page", ["/docs"])
def test_docs_assets_are_local(client: TestClient, page: str) -> None:
    r = client.get(API + page)
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", r.text)
    assert urls, r.text
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"{page} loads {url} from another host"
        got = client.get(url)
        assert got.status_code == 200 and got.content, url
    assert "fonts.googleapis" not in r.text and "cdn" not in r.text.lower()
    if page == "/docs":
        assert "validatorUrl" in r.text and '"validatorUrl": null' in r.text

""""Crop like these" over HTTP (issue 20): reference photos uploaded to ``/v1/references`` are held
in the server's memory and steer ``/v1/crop`` and ``/v1/score`` of requests that name their set.

Before: the API had no way to pass references; its learned scorer ignored the server's database.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra (procrop[server]) is not installed")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402

from procrop import Cropper  # noqa: E402
from procrop.retrieval.composition import crop_stats  # noqa: E402
from procrop.server import ServerSettings, create_app  # noqa: E402

from test_server_api import assert_error, assert_no_path  # noqa: E402
from test_style import scene  # noqa: E402


@pytest.fixture(scope="module")
def cropper(default_cropper: Cropper) -> Cropper:
    return default_cropper  # Cropper(), shared with the other tests


@pytest.fixture(scope="module")
def client(cropper: Cropper):
    with TestClient(create_app(ServerSettings(), cropper)) as c:
        yield c


def jpeg(tmp: Path, name: str, cx: float, seed: int, w: int = 480) -> bytes:
    return scene(tmp / name, cx, w=w, seed=seed).read_bytes()


def upload_set(client, tmp: Path, side: str, cx: float) -> str:
    set_id = None
    for i in range(3):
        fields = {"set": set_id} if set_id else {}
        r = client.post("/v1/references", files={"file": (f"{side}{i}.jpg", io.BytesIO(jpeg(tmp, f"{side}{i}.jpg", cx, i)),
                                                          "image/jpeg")}, data=fields)
        assert r.status_code == 200, r.text
        body = r.json()
        set_id = body["set"]
        assert body["count"] == i + 1 and body["references"][-1]["source"] == f"{side}{i}.jpg"
        assert abs(body["references"][-1]["composition"]["cx"] - cx) < 0.1
        assert_no_path(r)
    return set_id


def test_uploaded_references_steer_crops_and_scores(client, cropper: Cropper, tmp_path: Path) -> None:
    query = jpeg(tmp_path, "query.jpg", 0.5, 7, w=720)
    placed = {}
    for side, cx in (("left", 1 / 3), ("right", 2 / 3)):
        set_id = upload_set(client, tmp_path, side, cx)
        r = client.post("/v1/crop", files={"file": ("q.jpg", io.BytesIO(query), "image/jpeg")},
                        data={"ratios": "free", "top_k": "1", "references": set_id, "style_strength": "3"})
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["style_strength"] == 3.0 and d["reference_db"].startswith("uploaded references")
        crop = d["crops"][0]
        assert "style" in crop["terms"] and crop["references"][0]["source"].startswith(side)
        assert "closest to reference" in crop["reason"]
        placed[side] = float(crop_stats(cropper.analyze(query), [crop["box"]])[0, 0])
        s = client.post("/v1/score", files={"file": ("q.jpg", io.BytesIO(query), "image/jpeg")},
                        data={"box": ",".join(map(str, crop["box"])), "references": set_id, "style_strength": "3"})
        assert s.status_code == 200 and abs(s.json()["score"] - crop["score"]) < 1e-3, s.text
        gone = client.delete(f"/v1/references/{set_id}")
        assert gone.json() == {"set": set_id, "deleted": True}
        assert_error(client.post("/v1/crop", files={"file": ("q.jpg", io.BytesIO(query), "image/jpeg")},
                                 data={"references": set_id}), 404, "no_such_reference_set")
    assert placed["left"] < 0.45 < 0.55 < placed["right"], placed
    never = client.post("/v1/crop", files={"file": ("q.jpg", io.BytesIO(query), "image/jpeg")},
                        data={"references": "nope"})
    assert_error(never, 404, "no_such_reference_set")
    assert "never made" in never.json()["detail"]


def test_bad_steering_requests_are_one_clear_error(client, tmp_path: Path) -> None:
    query = jpeg(tmp_path, "query.jpg", 0.5, 7)
    set_id = upload_set(client, tmp_path, "left", 1 / 3)
    files = {"file": ("q.jpg", io.BytesIO(query), "image/jpeg")}
    assert_error(client.post("/v1/crop", files=files, data={"references": set_id, "style_strength": "99"}),
                 422, "invalid_parameter")
    files = {"file": ("q.jpg", io.BytesIO(query), "image/jpeg")}
    assert_error(client.post("/v1/crop", files=files, data={"references": set_id, "scorer": "classic"}),
                 422, "invalid_parameter")
    assert_error(client.post("/v1/references", files={"file": ("n.txt", io.BytesIO(b"text"), "image/jpeg")}),
                 422, "not_an_image")
    # set= (an unset variable in a script) made a new set on each call: refused
    empty = client.post("/v1/references", files={"file": ("q.jpg", io.BytesIO(query), "image/jpeg")},
                        data={"set": " "})
    assert "set is empty" in assert_error(empty, 422, "invalid_parameter")["detail"]
    # a strength without a set steered nothing and answered 200 (the server's --db ignored it): refused
    files = {"file": ("q.jpg", io.BytesIO(query), "image/jpeg")}
    alone = client.post("/v1/crop", files=files, data={"style_strength": "4"})
    body = assert_error(alone, 422, "invalid_parameter")
    assert "references=SET" in body["detail"]
    client.delete(f"/v1/references/{set_id}")


def test_a_server_of_several_workers_refuses_reference_sets(cropper: Cropper, tmp_path: Path) -> None:
    """A trial's `serve --workers 2`: a set lived in the worker that made it, so every other request
    about it was a 404 (200 404 200 404...). Sets now need one worker, and the answer says so."""
    with TestClient(create_app(ServerSettings(workers=2), cropper)) as several:
        photo = io.BytesIO(jpeg(tmp_path, "a.jpg", 0.3, 1))
        r = several.post("/v1/references", files={"file": ("a.jpg", photo, "image/jpeg")})
        assert_error(r, 409, "one_worker_only")
        assert "--workers 1" in r.json()["detail"] and several.get("/health").json()["limits"]["workers"] == 2


def test_an_abandoned_upload_is_no_server_error() -> None:
    """A client that dropped the connection mid-upload was logged as an unexpected server error with
    two tracebacks: now an ordinary 400 (one info line)."""
    import asyncio

    from starlette.requests import ClientDisconnect

    from procrop.server.errors import ApiError
    from procrop.server.uploads import read_body

    async def half_sent():
        yield b"--boundary\r\n"
        raise ClientDisconnect()

    with pytest.raises(ApiError) as exc:
        asyncio.run(read_body({"content-length": "1000"}, half_sent(), 10_000))
    assert exc.value.status == 400 and exc.value.body()["error"] == "client_disconnected"

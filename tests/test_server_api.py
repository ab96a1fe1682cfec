"""HTTP API of ``procrop.server`` through FastAPI's TestClient: crops, images, scoring, limits,
hostile inputs, back-pressure (503) and deadlines (504), and that no server path ever leaks."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra (procrop[server]) is not installed")
pytest.importorskip("python_multipart", reason="the server extra (procrop[server]) is not installed")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient
from PIL import Image

from procrop import Cropper
from procrop.server import ServerSettings, create_app

ROOT = Path(__file__).resolve().parents[1]
BEACH = ROOT / "examples" / "beach.jpg"
FORBIDDEN = {str(ROOT), "/work/", tempfile.gettempdir() + "/", "site-packages", "/home/", "/usr/", "Traceback"}


def assert_no_path(response) -> None:
    text = response.text if response.headers.get("content-type", "").startswith(("application/json", "text")) \
        else json.dumps(dict(response.headers))
    for needle in FORBIDDEN:
        assert needle not in text, f"{needle!r} leaked in {text[:300]}"


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    if code is not None:
        assert body["error"] == code, body
    assert_no_path(response)
    return body


@pytest.fixture(scope="module")
def cropper(default_cropper: Cropper) -> Cropper:
    return default_cropper  # Cropper(), shared with the other tests


@pytest.fixture(scope="module")
def beach() -> bytes:
    return BEACH.read_bytes()


@pytest.fixture(scope="module")
def client(cropper):
    with TestClient(create_app(ServerSettings(), cropper)) as c:
        yield c


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` (valid signature and IHDR, no pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def post(client, path: str, data: bytes, name: str = "beach.jpg", **fields):
    return client.post(path, files={"file": (name, data, "image/jpeg")}, data={k: str(v) for k, v in fields.items()})


def test_crop_several_ratios_matches_cli_schema(client, beach):
    r = post(client, "/v1/crop", beach, name="../../etc/my beach.jpg", ratios="1:1,4:5,16:9", top_k=2)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["image"] == "my beach.jpg"
    assert (d["width"], d["height"]) == (768, 512)
    for key in ("crops", "uncropped_score", "confidence", "keep_original", "description", "analysis",
                "timings_ms", "procrop_version"):
        assert key in d
    assert {c["ratio"] for c in d["crops"]} == {"1:1", "4:5", "16:9"}
    for c in d["crops"]:
        x, y, w, h = c["box"]
        assert "file" not in c and 0 <= x and x + w <= 768 and y + h <= 512
        target = {"1:1": 1.0, "4:5": 0.8, "16:9": 16 / 9}[c["ratio"]]
        assert abs(w - target * h) <= 1.0
        assert set(c) >= {"score", "rank", "confidence", "terms", "reason"}
    assert max(c["rank"] for c in d["crops"]) <= 2
    assert_no_path(r)
    from procrop.server.schemas import CropAnswer

    assert not set(d) - set(CropAnswer.model_fields)  # the spec names every field the answer has
    assert not set(d["crops"][0]) - set(CropAnswer.model_fields["crops"].annotation.__args__[0].model_fields)
    CropAnswer.model_validate(d)


def test_crop_warnings_are_the_clis(client, cropper, beach):
    """The API (and so the page) carries the same notes and warnings as the JSON procrop crop writes."""
    r = post(client, "/v1/crop", beach, ratios="1:1,4:5,16:9,free", top_k=5)
    assert r.status_code == 200, r.text
    cli = cropper.process(BEACH, ["1:1", "4:5", "16:9", "free"], 5).to_dict()
    assert r.json().get("notes") and r.json()["notes"] == cli["notes"]
    assert r.json().get("warnings") == cli.get("warnings")


def test_exact_size_and_crop_image(client, beach):
    r = post(client, "/v1/crop", beach, ratios="1080x1350", top_k=1)
    assert r.status_code == 200 and r.json()["crops"][0]["output_size"] == [1080, 1350]
    r = post(client, "/v1/crop/image", beach, ratio="1080x1350")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "beach_1080x1350_1.jpg" in r.headers["content-disposition"]
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "JPEG" and im.size == (1080, 1350)
    r = post(client, "/v1/crop/image", beach, width=200, height=100)
    assert Image.open(io.BytesIO(r.content)).size == (200, 100)
    r = post(client, "/v1/crop/image", beach, ratio="1:1", rank=2, width=300)  # 4:5 has one crop
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (300, 300)
    for ratio, size in (("4:5", (1080, 1350)), ("1:1", (1080, 1080))):  # inside the beach's scan border:
        r = post(client, "/v1/crop/image", beach, ratio=ratio, width=1080)  # 4:5 was 1080 x 1352
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == size
    from procrop.server.imaging import output_size

    assert output_size(405, 507, 1080, None, None, 0.8) == (1080, 1350)
    assert output_size(405, 507, 1080, None, None) == (1080, 1352)  # a box given: its own shape
    assert_no_path(r)
    # /v1/crop's "ratios" names the one ratio here too; two are refused, not ignored (a free crop came back)
    r = post(client, "/v1/crop/image", beach, ratios="4:5")
    w, h = Image.open(io.BytesIO(r.content)).size
    assert r.status_code == 200 and abs(w / h - 0.8) < 0.01
    r = post(client, "/v1/crop/image", beach, ratios="1:1,16:9")
    assert r.status_code == 422 and "one ratio (one image) per request, got 2" in r.text
    for twice in ("16:9", "1:1"):  # both names: refused, as /v1/crop refuses them (the same value passed)
        r = post(client, "/v1/crop/image", beach, ratio="1:1", ratios=twice)
        assert r.status_code == 422 and "'ratio' or 'ratios'" in r.text
    # a ratio and a width x height of another shape: refused (a 16:9 box was squeezed into 300x300)
    body = assert_error(post(client, "/v1/crop/image", beach, ratio="16:9", width=300, height=300), 422)
    assert "300x300 is not the shape of the 16:9 crop" in body["detail"]
    # a crop enlarged to its size is said, as procrop crop says it
    r = post(client, "/v1/crop/image", beach, ratio="1080x1350")
    assert "enlarged" in r.headers["x-procrop-warning"]
    r = post(client, "/v1/crop", beach, ratios="1080x1350", top_k=1)
    assert any(w.endswith("enlarged up to 2.67x") for w in r.json()["warnings"])
    # ratio lists are read as the CLI reads them
    body = assert_error(post(client, "/v1/crop", beach, ratios="1:1,"), 422, "invalid_parameter")
    assert "empty entry" in body["detail"]


def test_crop_image_box_keeps_png_format(client, beach):
    buf = io.BytesIO()
    Image.open(io.BytesIO(beach)).save(buf, "PNG")
    r = post(client, "/v1/crop/image", buf.getvalue(), name="shot.jpg", box="10,20,300,200")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "PNG" and im.size == (300, 200)
    assert r.headers["x-procrop-box"] == "10,20,300,200"
    assert_error(post(client, "/v1/crop/image", beach, box="700,0,300,300"), 422, "invalid_parameter")
    assert_error(post(client, "/v1/crop/image", beach, ratio="1:1", rank=9), 422)
    # a box with a rank or ratio: refused (the box was cut and the rank ignored: a developer's trial)
    body = assert_error(post(client, "/v1/crop/image", beach, box="0,0,300,300", rank=2), 422,
                        "invalid_parameter")
    assert body["detail"] == ("a box is cut as given: leave out rank (they choose one of the searched "
                              "crops instead)")
    body = assert_error(post(client, "/v1/crop/image", beach, box="0,0,300,300", ratio="1:1", rank=1), 422)
    assert "leave out rank and ratio" in body["detail"]


def test_describe_and_score(client, cropper, beach):
    r = post(client, "/v1/describe", beach)
    assert r.status_code == 200 and "photo" in r.json()["description"]
    assert {"faces", "subjects"} <= set(r.json()["analysis"])
    a = post(client, "/v1/score", beach, box="192,0,512,512").json()
    b = post(client, "/v1/score", beach, box="0,0,300,300", scorer="classic").json()
    for s in (a, b):
        assert 0 <= s["score"] <= 1 and 0 <= s["confidence"] <= 1 and s["terms"] and s["reason"]
        assert abs(sum(s["contributions"].values()) - s["score"]) < 1e-3
    assert a["score"] != b["score"]
    assert a["scorer"] == "preference" and a["model"] == cropper.model_name
    assert {"learned", "preference"} <= set(a["terms"])
    assert b["scorer"] == "classic" and "model" not in b
    assert "content" in b["terms"] and "learned" not in b["terms"]
    crop = post(client, "/v1/crop", beach, ratios="1:1", top_k=1).json()["crops"][0]
    again = post(client, "/v1/score", beach, box=",".join(map(str, crop["box"]))).json()
    assert abs(again["score"] - crop["score"]) < 1e-3 and again["terms"] == crop["terms"]
    assert_error(post(client, "/v1/score", beach), 422, "invalid_parameter")
    assert_error(post(client, "/v1/score", beach, box="1,2,3"), 422, "invalid_parameter")
    # a ratio, as Cropper.score_box takes it: named in the answer, and a box not of its shape refused
    # (a 1:1 box sent with ratio=16:9 was scored as free without a word: a developer's trial)
    sq = post(client, "/v1/score", beach, box="192,0,512,512", ratio="1:1").json()
    assert sq["ratio"] == "1:1" and a["ratio"] == "free" and sq["score"] == a["score"]
    r = post(client, "/v1/score", beach, box="192,0,512,512", ratio="16:9")
    assert r.status_code == 422 and "is not of ratio 16:9" in r.json()["detail"]
    from procrop.server.schemas import DescribeAnswer, ScoreAnswer

    for answer, model in ((a, ScoreAnswer), (b, ScoreAnswer), (post(client, "/v1/describe", beach).json(),
                                                              DescribeAnswer)):
        assert not set(answer) - set(model.model_fields)
        model.model_validate(answer)


def test_scorer_choice(client, cropper, beach):
    """``default`` and ``preference`` are the preference scorer, ``learned`` the box scorer alone,
    ``classic`` the hand-set one, on every route that ranks or scores; the response names the
    scorer (and its model)."""
    default = post(client, "/v1/crop", beach, ratios="1:1", top_k=1).json()
    assert default["scorer"] == "preference" and default["model"] == cropper.model_name
    assert "preference" in default["crops"][0]["terms"]
    named = post(client, "/v1/crop", beach, ratios="1:1", top_k=1, scorer="preference").json()
    assert named["scorer"] == "preference" and named["crops"] == default["crops"]
    learned = post(client, "/v1/crop", beach, ratios="1:1", top_k=1, scorer="learned").json()
    assert learned["scorer"] == "learned" and learned["model"] == "procrop-learned-v1"
    assert "learned" in learned["crops"][0]["terms"] and "preference" not in learned["crops"][0]["terms"]
    classic = post(client, "/v1/crop", beach, ratios="1:1", top_k=1, scorer="classic").json()
    assert classic["scorer"] == "classic" and "model" not in classic
    crop = classic["crops"][0]
    assert {"content", "placement"} <= set(crop["terms"]) and "learned" not in crop["terms"]
    for key in ("crops", "uncropped_score", "description", "analysis", "procrop_version"):
        assert key in classic
    again = post(client, "/v1/score", beach, box=",".join(map(str, crop["box"])), scorer="classic").json()
    assert abs(again["score"] - crop["score"]) < 1e-3 and again["terms"] == crop["terms"]
    image = post(client, "/v1/crop/image", beach, ratio="1:1", scorer="classic")
    assert image.status_code == 200 and image.headers["x-procrop-box"] == ",".join(map(str, crop["box"]))
    assert image.headers["x-procrop-score"] == f"{crop['score']:.4f}"


def test_one_cropper_per_scorer_built_once(cropper, monkeypatch):
    from procrop.server import service

    built: list[str] = []

    def slow_build(settings, scorer):
        time.sleep(0.05)  # widen the race window
        built.append(scorer)
        return Cropper(scorer=scorer, reference_db=None)

    monkeypatch.setattr(service, "build_cropper", slow_build)
    svc = service.CropService(ServerSettings(), cropper)
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(svc.cropper("classic"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert built == ["classic"] and len(got) == 8 and all(c is got[0] for c in got)
    assert got[0].scorer_name == "classic" and svc.cropper("preference") is cropper
    assert svc.cache("classic") is not svc.cache("preference") and svc.cache("classic").cropper is got[0]


def test_bad_parameters(client, beach):
    body = assert_error(post(client, "/v1/crop", beach, scorer="neural"), 422, "invalid_parameter")
    assert "learned" in body["detail"] and "classic" in body["detail"]
    assert_error(post(client, "/v1/score", beach, box="0,0,10,10", scorer="neural"), 422, "invalid_parameter")
    assert_error(post(client, "/v1/crop", beach, ratios="banana"), 422, "invalid_parameter")
    assert_error(post(client, "/v1/crop", beach, top_k=0), 422, "invalid_parameter")
    assert_error(post(client, "/v1/crop", beach, top_k="many"), 422, "invalid_parameter")
    nine = ",".join(f"{i}:1" for i in range(1, 10))
    assert_error(post(client, "/v1/crop", beach, ratios=nine), 422, "invalid_parameter")
    no_file = client.post("/v1/crop", data={"ratios": "1:1"}, files={"photo": ("a.jpg", b"x")})
    assert_error(no_file, 422, "missing_file")
    assert_error(client.post("/v1/crop", content=b"raw", headers={"content-type": "image/jpeg"}), 415)
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.get("/v1/crop"), 405)


@pytest.mark.parametrize(
    "data, name, code",
    [
        (b"%PDF-1.7 not an image at all", "photo.jpg", "not_an_image"),
        (b"GIF89a" + b"\x00" * 4, "x.gif", "not_an_image"),
        (b"", "empty.jpg", "empty_file"),
    ],
)
def test_hostile_uploads(client, data, name, code):
    assert_error(post(client, "/v1/crop", data, name=name), 422, code)


def test_truncated_jpeg(client, beach):
    for path in ("/v1/crop", "/v1/crop/image", "/v1/score", "/v1/describe"):
        boxed = {"box": "0,0,10,10"} if path in ("/v1/crop/image", "/v1/score") else {}
        body = assert_error(post(client, path, beach[: len(beach) // 3], **boxed), 422, "truncated_image")
        assert "truncated" in body["detail"]


def test_huge_dimensions(client):
    body = assert_error(post(client, "/v1/crop", png_header(100_000, 100_000), name="bomb.png"), 422, "too_many_pixels")
    assert "pixels" in body["detail"]
    body = assert_error(post(client, "/v1/crop", png_header(10_000, 6_000), name="big.png"), 422, "too_many_pixels")
    assert "10000x6000" in body["detail"] and "50,000,000" in body["detail"]


def test_oversize_upload(cropper, beach):
    with TestClient(create_app(ServerSettings(max_upload_bytes=20_000), cropper)) as c:
        body = assert_error(post(c, "/v1/crop", beach), 413, "too_large")
        assert "20,000" in body["detail"]

        def chunks():  # no Content-Length: the streamed body is counted as it arrives
            for i in range(0, 200_000, 10_000):
                yield b"x" * 10_000

        r = c.post("/v1/crop", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert_error(r, 413, "too_large")
        assert c.get("/health").status_code == 200


def _slow(svc, delay: float) -> None:
    original = svc.process

    def slow_process(*args, **kwargs):
        time.sleep(delay)
        return original(*args, **kwargs)

    svc.process = slow_process


def test_concurrency_queue_full_gives_503(cropper, beach):
    app = create_app(ServerSettings(max_concurrency=1, max_queue=1, timeout_s=30), cropper)
    _slow(app.state.procrop.service, 0.3)
    results: list = []
    with TestClient(app) as c:
        def worker() -> None:
            r = post(c, "/v1/crop", beach, ratios="1:1", top_k=1)
            results.append((r.status_code, r.headers.get("retry-after"), r.json()))

        threads = [threading.Thread(target=worker) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        stats = c.get("/health").json()["load"]
    codes = [s for s, _, _ in results]
    assert len(codes) == 12 and set(codes) <= {200, 503}, codes
    assert codes.count(200) >= 2 and codes.count(503) >= 1, codes
    for status, retry, body in results:
        if status == 503:
            assert retry == "1" and body["error"] == "busy"
    assert stats["rejected"] == codes.count(503) and stats["running"] == 0


def test_timeout_gives_504(cropper, beach):
    app = create_app(ServerSettings(timeout_s=0.2), cropper)
    _slow(app.state.procrop.service, 0.6)
    with TestClient(app) as c:
        body = assert_error(post(c, "/v1/crop", beach), 504, "timeout")
        assert "0.2" in body["detail"]
        deadline = time.monotonic() + 30  # the abandoned work finishes and frees its slot
        while c.get("/health").json()["load"]["running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/health").json()["load"]["running"] == 0


def test_health_docs_and_page(client, cropper):
    h = client.get("/health").json()
    assert h["status"] == "ok" and "max_upload_bytes" in h["limits"]
    assert h["scorers"]["default"] == "preference" and h["scorers"]["model"] == cropper.model_name
    assert "reference_db" not in json.dumps(h)
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "multipart/form-data" in spec["paths"]["/v1/crop"]["post"]["requestBody"]["content"]
    # the answers' shapes are in the spec (a developer's trial: every 200 had an empty schema)
    for path, model in (("/v1/crop", "CropAnswer"), ("/v1/score", "ScoreAnswer"),
                        ("/v1/describe", "DescribeAnswer"), ("/v1/references", "ReferenceSet")):
        answers = spec["paths"][path]["post"]["responses"]
        assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/" + model)
        assert {"404", "415", "422", "503"} <= set(answers), path
    assert "versus_original" in spec["components"]["schemas"]["CropItem"]["properties"]
    for name, schema in spec["components"]["schemas"].items():  # every field in words (a trial's second look)
        if name not in ("HTTPValidationError", "ValidationError"):
            assert all("description" in f for f in schema.get("properties", {}).values()), name
    health = spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert health["$ref"].endswith("/Health")
    for path in ("/v1/crop", "/v1/crop/image", "/v1/score"):
        form = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert form["properties"]["scorer"]["description"].startswith("default, preference, learned or classic")
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    static = Path(__file__).resolve().parents[1] / "procrop" / "server" / "static"
    for f in static.iterdir():  # no CDN, no remote asset anywhere in the page
        text = f.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f.name
        assert client.get(f"/static/{f.name}").status_code == 200


def test_docs_pages_load_nothing_from_outside(client):
    """/docs and /redoc use the Swagger UI and ReDoc files installed with the package (FastAPI's
    defaults load them from a CDN, so the pages are blank offline)."""
    import re

    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assert "http://" not in html.text and "https://" not in html.text and "//cdn" not in html.text, page
        assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert len(assets) >= 2, page
        for url in assets:
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 1000, url
            if url.endswith(".js"):
                assert b"cdn.jsdelivr" not in r.content[:2000]


def _without(blocked: list[str], call: str, tmp_path) -> str:
    """What a fresh interpreter prints calling ``call`` (from ``procrop.server``) with the modules
    ``blocked`` (None in sys.modules): 'OK' and the MissingExtraError's message."""
    code = (f"import sys\nfor m in {blocked!r}:\n    sys.modules[m] = None\n"
            f"from procrop.server import {call.split('(')[0]}\nfrom procrop import MissingExtraError\n"
            f"try:\n    {call}\nexcept MissingExtraError as e:\n    print('OK', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120, check=False)
    assert "OK" in out.stdout, out.stdout + out.stderr
    return out.stdout


def test_missing_extra_is_reported(tmp_path):
    assert "procrop[server]" in _without(["fastapi"], "create_app()", tmp_path)


def test_the_extra_check_reads_what_is_installed(monkeypatch):
    """A package blocked (None in sys.modules) is missing; a module imported without a spec (a stub)
    is present; the runner needs uvicorn too."""
    import types

    from procrop.server.extra import missing_packages

    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.setitem(sys.modules, "uvicorn", types.ModuleType("uvicorn"))  # no __spec__
    assert missing_packages() == ["fastapi"] and missing_packages(runner=True) == ["fastapi"]
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert missing_packages(runner=True) == ["fastapi", "uvicorn"]


def test_every_missing_server_package_is_named_at_once(tmp_path):
    """``procrop serve`` without fastapi and uvicorn names both (a trial's error named uvicorn alone)."""
    told = _without(["fastapi", "uvicorn"], "serve(port=1)", tmp_path)
    assert "'fastapi' and 'uvicorn'. Install them with: pip install 'procrop[server]'" in told, told


def test_max_upscale_as_the_cli(client, beach):
    """``max_upscale`` on /v1/crop and /v1/crop/image chooses crops wide enough for the output size,
    as ``procrop crop --max-upscale`` does (the widest the photo has when none is)."""
    loose = post(client, "/v1/crop", beach, ratios="1080x1920", top_k=3).json()["crops"]
    sharp = post(client, "/v1/crop", beach, ratios="1080x1920", top_k=3, max_upscale="1").json()["crops"]
    widest = max(c["box"][2] for c in loose + sharp)
    assert sharp and all(c["box"][2] == widest for c in sharp)
    r = post(client, "/v1/crop/image", beach, ratio="1080x1920", max_upscale="1.5")
    assert r.status_code == 200 and int(r.headers["x-procrop-box"].split(",")[2]) == widest
    for bad in ("0.5", "x", "inf"):
        body = assert_error(post(client, "/v1/crop", beach, ratios="1:1", max_upscale=bad), 422,
                            "invalid_parameter")
        assert "max_upscale must be a number of at least 1" in body["detail"]


def test_alternatives_as_the_cli(client, beach):
    """``min_score_ratio`` and ``diversity_iou`` on /v1/crop let more alternatives through, as
    ``procrop crop --min-score-ratio --diversity-iou`` (and ``Cropper.process``) do."""
    few = post(client, "/v1/crop", beach, ratios="1:1,16:9", top_k=5).json()["crops"]
    many = post(client, "/v1/crop", beach, ratios="1:1,16:9", top_k=5, min_score_ratio="0",
                diversity_iou="1").json()["crops"]
    assert len(many) >= len(few) + 4
    for field, bad in (("min_score_ratio", "1.5"), ("diversity_iou", "0"), ("diversity_iou", "x")):
        body = assert_error(post(client, "/v1/crop", beach, ratios="1:1", **{field: bad}), 422,
                            "invalid_parameter")
        assert field in body["detail"] and repr(bad) in body["detail"]


"""Server options and output formats beside the API's own tests (:mod:`test_server_api`): the
settings ``procrop serve`` hands its workers, and ``/v1/crop/image`` in another format."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra (procrop[server]) is not installed")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from PIL import Image  # noqa: E402

from procrop.server import ServerSettings  # noqa: E402

from test_server_api import assert_error, beach, client, cropper, post  # noqa: E402,F401 (fixtures)


def test_crop_image_in_another_format(client, beach):
    """``format`` and ``quality`` on /v1/crop/image (a web page cannot show the BMP or TIFF crop of
    a BMP or TIFF upload: a trial)."""
    bmp = io.BytesIO()
    Image.open(io.BytesIO(beach)).save(bmp, "BMP")
    for fmt, mime in (("jpeg", "image/jpeg"), ("png", "image/png"), ("WebP", "image/webp")):
        r = post(client, "/v1/crop/image", bmp.getvalue(), name="shot.bmp", box="10,20,300,200", format=fmt,
                 **({"quality": 60} if fmt != "png" else {}))
        assert r.status_code == 200 and r.headers["content-type"] == mime, r.text
        assert Image.open(io.BytesIO(r.content)).size == (300, 200)
        assert r.headers["content-disposition"].split("filename=")[1].split(";")[0].strip('"').endswith(
            {"jpeg": ".jpg", "png": ".png", "WebP": ".webp"}[fmt])
    small = post(client, "/v1/crop/image", beach, box="10,20,300,200", format="jpeg", quality=20)
    large = post(client, "/v1/crop/image", beach, box="10,20,300,200", format="jpeg", quality=95)
    assert len(small.content) < len(large.content)
    gif = post(client, "/v1/crop/image", beach, box="0,0,30,30", format="gif")
    assert_error(gif, 422, "invalid_parameter")
    assert_error(post(client, "/v1/crop/image", beach, box="0,0,30,30", quality=0), 422, "invalid_parameter")


def test_unknown_and_doubled_fields_are_refused(client, beach):
    """A field the route does not take is refused, the nearest named (a trial's ``topk=1`` gave 3
    crops); ``ratio`` and ``ratios`` together, or an empty ``ratios``, likewise."""
    body = assert_error(post(client, "/v1/crop", beach, topk=1), 422, "invalid_parameter")
    assert "unknown field(s): topk (did you mean top_k?)" in body["detail"]
    body = assert_error(post(client, "/v1/describe", beach, ratios="1:1"), 422, "invalid_parameter")
    assert body["detail"] == "unknown field(s): ratios; this endpoint takes only the file"
    body = assert_error(post(client, "/v1/crop", beach, ratio="16:9", ratios="1:1"), 422, "invalid_parameter")
    assert "not both" in body["detail"]
    twice = client.post("/v1/crop", files={"file": ("b.jpg", beach, "image/jpeg")},
                        data={"ratios": ["1:1", "4:5"]})  # the last one won without a word
    assert "given twice" in assert_error(twice, 422, "invalid_parameter")["detail"]
    body = assert_error(post(client, "/v1/crop", beach, ratios=""), 422, "invalid_parameter")
    assert body["detail"].startswith("ratios is empty")
    # two images, or a box scored at two ratios: the second was dropped without a word (a trial)
    two = client.post("/v1/crop", files=[("file", ("a.jpg", beach, "image/jpeg")),
                                         ("file", ("b.jpg", beach, "image/jpeg"))])
    assert "form field 'file' holds a second file" in assert_error(two, 422, "invalid_parameter")["detail"]
    other = client.post("/v1/crop", files=[("file", ("a.jpg", beach, "image/jpeg")),
                                           ("photo", ("b.jpg", beach, "image/jpeg"))])
    assert "form field 'photo' holds a second file" in assert_error(other, 422, "invalid_parameter")["detail"]
    body = assert_error(post(client, "/v1/score", beach, box="0,0,100,100", ratio="1:1,4:5"), 422,
                        "invalid_parameter")
    assert body["detail"] == "ratio must be one ratio for a scored box, got 2: '1:1,4:5'"
    assert post(client, "/v1/crop", beach, ratio="16:9").json()["crops"][0]["ratio"] == "16:9"


def test_serve_passes_workers_and_concurrency(monkeypatch):
    """``procrop serve --workers 2 --concurrency 3``: the settings every worker gets carry both (a
    trial found no way to set the concurrency; /health shows both)."""
    from typer.testing import CliRunner

    import procrop.server as server
    from procrop.cli.app import app

    seen = {}
    def serve(host, port, workers, **limits):  # noqa: ANN001, ANN202 - records what serve was given
        seen.update(workers=workers, **limits)

    monkeypatch.setattr(server, "serve", serve)
    import procrop.server.runner as runner

    monkeypatch.setattr(runner, "check_free", lambda *a: None)  # port 8000 may be taken where tests run
    r = CliRunner().invoke(app, ["serve", "--workers", "2", "--concurrency", "3"])
    assert r.exit_code == 0, r.output
    assert seen["workers"] == 2 and seen["max_concurrency"] == 3
    settings = ServerSettings.from_limits(**{k: v for k, v in seen.items() if k != "workers"}, workers=2)
    assert settings.public()["max_concurrency"] == 3 and settings.public()["workers"] == 2


def test_serve_on_a_port_in_use_is_one_line(monkeypatch):
    """``procrop serve --port N`` with N taken: one line naming the port, exit 2, before any model
    loads (a trial got uvicorn's bind error after 'Application startup complete', exit 3)."""
    import socket

    import uvicorn
    from typer.testing import CliRunner

    from procrop.cli.app import app

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn started on a port in use"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert r.exit_code == 2, r.output
    assert f"port {port} on 127.0.0.1 is in use" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_crop_image_keeps_a_jpeg_quality_and_says_what_it_loses(client, beach):
    """A JPEG upload's crop keeps its quantisation tables, as the CLI's do (it came back at 95: a
    trial); a quality for a PNG crop, and a transparent upload's JPEG crop, are said in the
    X-Procrop-Warning header as the CLI warns."""
    source = Image.open(io.BytesIO(beach))
    r = post(client, "/v1/crop/image", beach, box="10,20,300,200")
    assert Image.open(io.BytesIO(r.content)).quantization == source.quantization
    r = post(client, "/v1/crop/image", beach, box="10,20,300,200", format="png", quality=10)
    assert r.status_code == 200 and "quality applies to JPEG and WebP crops" in r.headers["x-procrop-warning"]
    clear = source.convert("RGBA")
    clear.paste((0, 0, 0, 0), (50, 50, 120, 120))  # a clear hole inside the crop
    png = io.BytesIO()
    clear.save(png, "PNG")
    r = post(client, "/v1/crop/image", png.getvalue(), name="clear.png", box="10,20,300,200", format="jpeg")
    assert r.status_code == 200 and "transparent parts" in r.headers["x-procrop-warning"]
    assert "x-procrop-warning" not in post(client, "/v1/crop/image", beach, box="10,20,300,200").headers


def test_crop_image_says_a_deep_photo_becomes_8_bit(client):
    """A 16-bit colour PNG's crop has 8 bits a channel, said as the CLI says it (the API was silent:
    a trial); its JPEG crop and a 16-bit grey PNG's crop need no word."""
    import cv2
    import numpy as np

    deep = (np.random.default_rng(0).random((90, 120, 3)) * 65535).astype(np.uint16)
    ok, png = cv2.imencode(".png", deep)
    r = post(client, "/v1/crop/image", png.tobytes(), name="deep.png", box="10,20,60,40")
    assert r.status_code == 200 and "16 bits a colour channel" in r.headers["x-procrop-warning"], r.text
    r = post(client, "/v1/crop/image", png.tobytes(), name="deep.png", box="10,20,60,40", format="jpeg")
    assert "x-procrop-warning" not in r.headers
    grey = io.BytesIO()
    Image.fromarray((np.arange(90 * 120).reshape(90, 120) * 5).astype(np.uint16)).save(grey, "PNG")
    assert "x-procrop-warning" not in post(client, "/v1/crop/image", grey.getvalue(), name="g.png",
                                           box="10,20,60,40").headers


def test_every_reference_set_request_says_one_worker(cropper):
    """On a server of several workers, naming or deleting a set is the same 409 as making one (a
    trial got a 404 saying "add the photos again", and a 200 for DELETE); the DELETE route
    documents it."""
    from fastapi.testclient import TestClient

    from procrop.server import create_app

    with TestClient(create_app(ServerSettings(workers=2), cropper)) as several:
        assert_error(several.delete("/v1/references/abc"), 409, "one_worker_only")
        beach_bytes = (Path(__file__).resolve().parents[1] / "examples" / "beach.jpg").read_bytes()
        assert_error(post(several, "/v1/crop", beach_bytes, references="abc"), 409, "one_worker_only")
        spec = several.get("/openapi.json").json()["paths"]["/v1/references/{set_id}"]["delete"]["responses"]
        assert {"405", "409"} <= set(spec)


def test_a_quote_in_an_upload_name_is_read_back(client, beach):
    """A form sends a quote in a file name as %22 (HTML's multipart rules, and curl's): the crop's
    name had "_22" for it (a trial); the name is now read back first, then made harmless."""
    from procrop.server.uploads import safe_name

    assert safe_name('pr\u00f6duct %22x%22.jpg') == "pr\u00f6duct _x_.jpg"
    assert safe_name("100%.jpg") == "100_.jpg"
    assert safe_name("caer__gold_fish.jpg") == "caer__gold_fish.jpg"  # its own underscores kept (a trial)
    assert safe_name("a\x00\x01b?*.jpg") == "a_b_.jpg"  # a run of odd characters: one "_"
    assert safe_name("a" * 120 + ".jpg") == "a" * 96 + ".jpg"  # shortened to 100, its extension kept
    r = post(client, "/v1/crop/image", beach, name="shot %22x%22.jpg", box="10,20,300,200")
    assert r.status_code == 200 and 'filename="shot _x__box_1.jpg"' in r.headers["content-disposition"]


def test_a_cmyk_photo_s_jpeg_crop_says_it_is_cmyk(client, beach, tmp_path):
    """A CMYK JPEG's JPEG crop is CMYK, as the photo (two trials took it for a fault): said in the
    header and the CLI's warnings; its PNG crop is RGB and needs no word."""
    from procrop.imaging.save import CMYK_IN_JPEG, crop_file_losses

    cmyk = io.BytesIO()
    Image.open(io.BytesIO(beach)).convert("CMYK").save(cmyk, "JPEG")
    r = post(client, "/v1/crop/image", cmyk.getvalue(), name="c.jpg", box="10,20,300,200")
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).mode == "CMYK"
    assert CMYK_IN_JPEG in r.headers["x-procrop-warning"]
    r = post(client, "/v1/crop/image", cmyk.getvalue(), name="c.jpg", box="10,20,300,200", format="png")
    assert Image.open(io.BytesIO(r.content)).mode == "RGB" and "x-procrop-warning" not in r.headers
    (tmp_path / "c.jpg").write_bytes(cmyk.getvalue())
    assert crop_file_losses(tmp_path / "c.jpg", {"JPG"}) == [CMYK_IN_JPEG]
    assert crop_file_losses(tmp_path / "c.jpg", {"PNG"}) == []


def test_a_box_resized_to_another_shape_says_it_is_stretched(client, beach):
    """A box with a width and a height of another shape is that size, as asked, and the warning
    says the crop is stretched (a trial read only "enlarged")."""
    r = post(client, "/v1/crop/image", beach, box="10,10,300,200", width=600, height=600)
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (600, 600)
    said = r.headers["x-procrop-warning"]
    assert "600x600 is not the shape of the 300x200 box: the crop is stretched" in said
    r = post(client, "/v1/crop/image", beach, box="10,10,300,200", width=600)  # one side: the shape kept
    assert "stretched" not in r.headers.get("x-procrop-warning", "")
    # the side worked out from the other is held to the limit too (a trial got 8400 wide)
    body = assert_error(post(client, "/v1/crop/image", beach, box="0,0,400,100", height=2100), 422,
                        "invalid_parameter")
    assert "8400x2100 has a side over 8192 pixels" in body["detail"]

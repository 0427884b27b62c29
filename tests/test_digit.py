"""Your digit: MNIST's preprocessing on real test digits drawn large, the upload checks, the template match against
the Confusion page's classifier, the γ flip (known-answer model and a shipped one), the page (AppTest) and, slow,
a stroke drawn on the canvas in headless Chromium."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core import digit
from core.analysis import class_images, rescale_to_input, template_classify
from core.reverse_correlation import AnalysisSettings, Analyzer
from core.attack import blend
from core.noise import NoiseSpec


def png_bytes(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    (Image.fromarray(pixels) if mode is None else Image.fromarray(pixels).convert(mode)).save(buffer, "PNG")
    return buffer.getvalue()


def drawing_of(test_image: np.ndarray, side: int = 200) -> np.ndarray:
    """A test digit as a student might draw it: 200 × 200, dark ink on white paper, off-centre on a wider page."""
    big = np.asarray(Image.fromarray(test_image).resize((side, side), Image.Resampling.BILINEAR))
    page = np.full((300, 260), 255, np.uint8)
    page[70 : 70 + side, 10 : 10 + side] = 255 - big
    return page


def first_of_each_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in range(10)])


@pytest.fixture(scope="module")
def lenet(mnist):
    from core.store import load_model

    return load_model("lenet", "mnist")[0]


# --- preprocessing -------------------------------------------------------------------------------------------------

def test_real_test_digits_drawn_large_come_back_as_their_class(mnist, lenet) -> None:
    from core.models import predict_probabilities

    chosen = first_of_each_class(mnist.test_labels, 3)  # 30 digits, three of each class
    digits = np.stack([digit.mnist_digit(digit.decode_image(png_bytes(drawing_of(mnist.test_images[i]))))
                       for i in chosen])
    answers = predict_probabilities(lenet, digits).argmax(axis=1)
    assert answers.tolist() == mnist.test_labels[chosen].tolist()
    # and they are close to the originals, pixel by pixel (mean |difference| on the 0–1 scale)
    assert np.abs(digits - mnist.test_images[chosen] / 255.0).mean() < 0.05
    assert digits.dtype == np.float32 and digits.shape == (30, 28, 28)
    assert np.allclose(digits.max(axis=(1, 2)), 1.0) and digits.min() >= 0.0


def test_a_digit_on_paper_lit_unevenly_is_read_as_on_even_paper(mnist, lenet) -> None:
    """A photo of a digit on paper by a lamp: one background level from the border made the shaded side ink (a
    grey band beside a shrunken 7, read at 67 %; a review). The paper's level is taken pixel by pixel there."""
    from core.models import predict_probabilities

    chosen = first_of_each_class(mnist.test_labels, 2)
    light = np.linspace(1.0, 0.55, 260)[None, :] * np.linspace(1.0, 0.85, 300)[:, None]  # dimmer to the right
    even, lamp = (np.stack([digit.mnist_digit(digit.decode_image(png_bytes(
        np.rint(drawing_of(mnist.test_images[i]) * shade).astype(np.uint8)))) for i in chosen])
        for shade in (np.ones_like(light), light))
    assert predict_probabilities(lenet, lamp).argmax(axis=1).tolist() == mnist.test_labels[chosen].tolist()
    assert np.abs(lamp - even).mean() < 0.03
    # and paper lit evenly keeps the one level from the border, to the bit (the test above, and the drawings)
    assert np.array_equal(even[0], digit.mnist_digit(digit.decode_image(png_bytes(drawing_of(
        mnist.test_images[chosen[0]])))))


@pytest.mark.parametrize("height, width", [(160, 40), (40, 160), (120, 120)])
def test_fitted_into_20_keeping_the_aspect_ratio_centre_of_mass_at_14(height: int, width: int) -> None:
    page = np.zeros((400, 300), np.float32)
    page[30 : 30 + height, 200 - width // 2 : 200 - width // 2 + width] = 1.0  # far from the centre
    result = digit.mnist_digit(page)
    rows = np.flatnonzero(result.max(axis=1) > 0.5)
    columns = np.flatnonzero(result.max(axis=0) > 0.5)
    long_side = 20
    short_side = round(long_side * min(height, width) / max(height, width))
    assert (len(rows), len(columns)) == ((long_side, short_side) if height >= width else (short_side, long_side))
    centre = ndimage.center_of_mass(result)
    assert abs(centre[0] - 14.0) <= 0.5 and abs(centre[1] - 14.0) <= 0.5


def test_mnist_digits_themselves_are_where_the_preprocessing_puts_them(mnist) -> None:
    """The target (14, 14) is MNIST's own: the test digits' centres of mass, whole-pixel shifts, |error| ≤ 0.5."""
    centres = np.array([ndimage.center_of_mass(image) for image in mnist.test_images[:500].astype(float)])
    assert np.allclose(centres.mean(axis=0), digit.MNIST_CENTRE, atol=0.05)
    assert np.abs(centres - digit.MNIST_CENTRE).max() < 0.75


def test_light_or_dark_background_and_transparent_drawings_give_the_same_digit(mnist) -> None:
    ink = np.asarray(Image.fromarray(mnist.test_images[0]).resize((140, 140), Image.Resampling.BILINEAR))
    dark_on_light = digit.mnist_digit(digit.decode_image(png_bytes(255 - ink)))
    light_on_dark = digit.mnist_digit(digit.decode_image(png_bytes(ink)))
    rgba = np.zeros((140, 140, 4), np.uint8)
    rgba[..., 3] = ink  # black pen on a transparent canvas: the alpha is the ink
    transparent = digit.mnist_digit(digit.decode_image(png_bytes(rgba)))
    assert np.allclose(dark_on_light, light_on_dark, atol=1e-5)
    assert np.allclose(transparent, light_on_dark, atol=1e-5)


def test_a_digit_on_an_opaque_card_with_a_transparent_margin_is_the_digit_not_the_card(mnist) -> None:
    """A black digit on a white card whose margin (or rounded corners) is transparent: the alpha, taken for the ink,
    was the card, and a filled square was read as "0" (a review). The margin now takes the card's colour."""
    ink = np.asarray(Image.fromarray(mnist.test_images[0]).resize((140, 140), Image.Resampling.BILINEAR))
    card = np.zeros((180, 180, 4), np.uint8)
    card[20:160, 20:160, :3] = (255 - ink)[..., None]
    card[20:160, 20:160, 3] = 255
    on_paper = np.full((180, 180), 255, np.uint8)
    on_paper[20:160, 20:160] = 255 - ink
    read = digit.mnist_digit(digit.decode_image(png_bytes(card)))
    assert np.allclose(read, digit.mnist_digit(digit.decode_image(png_bytes(on_paper))), atol=1e-5)
    small = np.zeros((400, 400, 4), np.uint8)  # a card a quarter of the picture's width, not most of its area
    small[100:280, 100:280] = card
    assert np.allclose(digit.mnist_digit(digit.decode_image(png_bytes(small))), read, atol=1e-5)
    pen = np.zeros((180, 180, 4), np.uint8)  # and a pen on a transparent canvas is still its alpha
    pen[20:160, 20:160, 3] = ink
    assert np.allclose(digit.mnist_digit(digit.decode_image(png_bytes(pen))), read, atol=1e-5)


@pytest.mark.parametrize("orientation, stored_turn", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
                                                      (3, Image.Transpose.ROTATE_180)])
def test_a_photo_stored_sideways_is_turned_as_its_exif_says(mnist, orientation, stored_turn) -> None:
    """Phones store a portrait photo sideways with an EXIF orientation; read as stored, a 7 was a "2" (a review)."""
    upright = Image.fromarray(255 - np.asarray(Image.fromarray(mnist.test_images[0]).resize((140, 140))))
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    buffer = io.BytesIO()
    upright.transpose(stored_turn).save(buffer, "PNG", exif=exif)
    read = digit.mnist_digit(digit.decode_image(buffer.getvalue()))
    assert np.array_equal(read, digit.mnist_digit(digit.decode_image(png_bytes(np.asarray(upright)))))


@pytest.mark.parametrize("level", [0, 128, 255])
def test_a_blank_picture_says_there_is_no_digit(level: int) -> None:
    with pytest.raises(digit.BlankDrawing, match="no digit yet"):
        digit.mnist_digit(digit.decode_image(png_bytes(np.full((280, 280), level, np.uint8))))


def _canvas_with(draw) -> np.ndarray:
    """A 280² canvas as the page's square is (white ink on black) with ``draw(ImageDraw)`` on it, decoded."""
    from PIL import ImageDraw

    canvas = Image.new("L", (280, 280), 0)
    draw(ImageDraw.Draw(canvas))
    return digit.decode_image(png_bytes(np.asarray(canvas)))


def test_a_dot_on_the_canvas_is_no_drawing_but_a_small_stroke_is() -> None:
    """A click left one pen-wide dot (20 px of 280), which the 20 × 20 box blew up into a blob the network read as
    a digit (a review): a drawing is held to DOT_EXTENT of its side; an upload, which may be cropped tight, is not."""
    dot = _canvas_with(lambda pen: pen.ellipse((130, 130, 150, 150), fill=255))
    with pytest.raises(digit.DotOnly, match="only a dot"):
        digit.mnist_digit(dot, digit.DOT_EXTENT)
    assert digit.mnist_digit(dot).max() == 1.0  # not held to it: the blob, as before
    # a small "1", 32 px tall with the same pen (11 % of the side), is a drawing
    one = _canvas_with(lambda pen: pen.line((140, 124, 140, 156), fill=255, width=20))
    assert digit.mnist_digit(one, digit.DOT_EXTENT).shape == (28, 28)


# --- upload checks -------------------------------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A 60-byte PNG whose header claims width × height grey pixels (one tiny compressed row follows)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


def test_png_bombs_are_refused_from_their_header() -> None:
    """5,000² (25 M pixels) passes Pillow's own limit (89 M) and is refused by ours; 100,000² (10¹⁰) is refused by
    Pillow's guard already at open. Neither is decoded: each file is under 100 bytes."""
    for side, message in [(5_000, r"5,000 × 5,000 pixels; at most 4,000 a side"),
                          (100_000, r"far too many pixels to decode; at most 4,000 pixels a side")]:
        raw = bomb_png(side, side)
        assert len(raw) < 100
        with pytest.raises(digit.ImageRejected, match=message):
            digit.decode_image(raw)


def test_pillows_own_bomb_guard_is_kept_as_a_second_line(monkeypatch) -> None:
    """Within 4,000 a side Pillow's limit (89 M pixels) cannot be reached; lowered, its warning and error refuse."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    for side in (40, 100):  # 1,600 pixels: Pillow warns; 10,000: Pillow raises
        with pytest.raises(digit.ImageRejected, match="far too many pixels"):
            digit.decode_image(png_bytes(np.zeros((side, side), np.uint8)))


def test_a_gif_is_refused_by_name() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buffer, "GIF")
    with pytest.raises(digit.ImageRejected, match="This is a GIF image; only PNG and JPEG are accepted"):
        digit.decode_image(buffer.getvalue())


def progressive_jpeg(pixels: np.ndarray, repeat_last_scan: int = 0) -> bytes:
    """A progressive JPEG of ``pixels``, its last scan repeated: libjpeg decodes every repeat over every block."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", progressive=True, quality=50)
    raw = buffer.getvalue()
    last = raw.rfind(b"\xff\xda")  # the last scan runs from its SOS marker to the EOI at the end
    return raw[:-2] + raw[last:-2] * repeat_last_scan + raw[-2:]


def test_a_jpeg_of_thousands_of_scans_is_refused_before_it_is_decoded(mnist) -> None:
    """A reviewer's 4,000² progressive JPEG with one scan repeated: decoding grew ~5-9 ms a scan (a 5-MB file,
    ~160,000 scans, would hold a core for minutes on every slider move). Counted from the markers, refused at once;
    an ordinary progressive JPEG (about 10 scans) decodes."""
    import time

    page = np.full((4_000, 4_000), 255, np.uint8)
    page[1_000:3_000, 1_000:3_000] = np.asarray(Image.fromarray(255 - mnist.test_images[0]).resize((2_000, 2_000)))
    ordinary = progressive_jpeg(page)
    assert 5 <= digit.jpeg_scans(ordinary) <= 12
    assert digit.mnist_digit(digit.decode_image(ordinary)).shape == (28, 28)
    bar = np.full((4_000, 4_000), 128, np.uint8)  # grey with one bar: its last scan is a few hundred bytes
    bar[2_000, 1_300:2_700] = 0
    bomb = progressive_jpeg(bar, repeat_last_scan=3_000)
    assert len(bomb) < digit.MAX_UPLOAD_BYTES and digit.jpeg_scans(bomb) > 3_000
    started = time.process_time()
    with pytest.raises(digit.ImageRejected, match="more than 100 passes"):
        digit.decode_image(bomb)
    assert time.process_time() - started < 1.0  # decoded, its 3,000 scans take ~15 s of CPU
    plain_scans = digit.jpeg_scans(progressive_jpeg(bar))
    at_the_limit = progressive_jpeg(bar, repeat_last_scan=digit.MOST_JPEG_SCANS - plain_scans)
    assert digit.jpeg_scans(at_the_limit) == digit.MOST_JPEG_SCANS
    digit.decode_image(at_the_limit)
    # One junk byte after a segment, which libjpeg skips, ended a walk over the markers at 0 scans (a reviewer)
    app0_end = 4 + int.from_bytes(bomb[4:6], "big")
    for junk in (b"\x00", b"\xff\x00", b"ab"):
        with pytest.raises(digit.ImageRejected, match="more than 100 passes"):
            digit.decode_image(bomb[:app0_end] + junk + bomb[app0_end:])


def test_a_phone_jpeg_with_a_gain_map_is_a_jpeg(mnist) -> None:
    """Pillow calls a JPEG with an MPF block (a multi-picture file; older Pillow also read phones' Ultra HDR photos
    so) "MPO"; it was refused as "a MPO image" though the student uploaded a JPEG. Its first image is the photo."""
    photo = Image.fromarray(255 - mnist.test_images[1]).convert("RGB")
    buffer = io.BytesIO()
    photo.save(buffer, "MPO", save_all=True, append_images=[photo.convert("L").convert("RGB")])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    plain = io.BytesIO()
    photo.save(plain, "JPEG")
    assert np.abs(digit.decode_image(buffer.getvalue()) - digit.decode_image(plain.getvalue())).max() < 0.1


def test_other_pictures_are_named_without_being_parsed(monkeypatch) -> None:
    """Only the PNG and JPEG plugins read an upload; a WebP, BMP or TIFF is named from its first bytes (their own
    readers, made to fail here, were the ones that named them)."""
    from PIL import BmpImagePlugin, TiffImagePlugin, WebPImagePlugin

    def parsed(self) -> None:
        raise AssertionError(f"{type(self).__name__} parsed an upload")

    for plugin in (BmpImagePlugin.BmpImageFile, TiffImagePlugin.TiffImageFile, WebPImagePlugin.WebPImageFile):
        monkeypatch.setattr(plugin, "_open", parsed)
    for kind, name in (("WEBP", "WebP"), ("BMP", "BMP"), ("TIFF", "TIFF")):
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((28, 28), np.uint8)).convert("RGB").save(buffer, kind)
        with pytest.raises(digit.ImageRejected, match=f"This is a {name} image; only PNG and JPEG are accepted"):
            digit.decode_image(buffer.getvalue())


def test_a_file_over_5_mb_is_refused_before_it_is_read() -> None:
    raw = png_bytes(np.zeros((28, 28), np.uint8)) + b"\x00" * (5 * 1024 * 1024)
    with pytest.raises(digit.ImageRejected, match=r"The file is 5\.0 MB; the limit is 5 MB"):
        digit.decode_image(raw)


def test_the_server_refuses_uploads_over_the_page_s_limit() -> None:
    """The uploader's own limit is checked in the browser only: with Streamlit's default server limit (200 MB) a
    script took 60- and 150-MB uploads, each kept in memory for the session (a reviewer). The server's limit is the
    page's."""
    import tomllib

    from core.config import PROJECT_ROOT

    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == digit.MAX_UPLOAD_MB
    assert config["server"]["maxMessageSize"] <= 20  # the canvas's state comes over the websocket (default 200 MB)
    assert digit.MAX_UPLOAD_BYTES == digit.MAX_UPLOAD_MB * 2**20


def test_truncated_damaged_foreign_and_empty_files_get_a_sentence() -> None:
    good = png_bytes(np.random.default_rng(0).integers(0, 256, (280, 280), np.uint8))
    with pytest.raises(digit.ImageRejected, match="damaged or truncated"):
        digit.decode_image(good[: len(good) // 2])
    flipped = bytearray(good)
    flipped[60] ^= 0xFF  # inside the first IDAT chunk's data: its CRC no longer matches
    with pytest.raises(digit.ImageRejected, match="damaged or truncated"):
        digit.decode_image(bytes(flipped))
    with pytest.raises(digit.ImageRejected, match="not a picture we can read"):
        digit.decode_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(digit.ImageRejected, match="empty"):
        digit.decode_image(b"")


def test_jpeg_and_png_are_decoded_in_memory(mnist) -> None:
    buffer = io.BytesIO()
    Image.fromarray(255 - mnist.test_images[1]).convert("RGB").save(buffer, "JPEG", quality=95)
    from_jpeg = digit.decode_image(buffer.getvalue())
    from_png = digit.decode_image(png_bytes(255 - mnist.test_images[1]))
    assert from_jpeg.shape == from_png.shape == (28, 28)
    assert np.abs(from_jpeg - from_png).max() < 0.1  # JPEG's loss, and the ink bright in both


def test_a_large_picture_is_shrunk_before_it_is_worked_on(mnist) -> None:
    """A 4,000 × 3,000 photo-sized PNG and JPEG of a digit: decoded at no more than 1,000 a side, same digit."""
    ink = np.asarray(Image.fromarray(255 - mnist.test_images[2]).resize((2_400, 2_400), Image.Resampling.BILINEAR))
    page = np.full((3_000, 4_000), 255, np.uint8)
    page[300:2_700, 800:3_200] = ink
    buffer = io.BytesIO()
    Image.fromarray(page).convert("RGB").save(buffer, "JPEG", quality=90)
    for raw in (png_bytes(page), buffer.getvalue()):
        decoded = digit.decode_image(raw)
        assert max(decoded.shape) <= digit.WORKING_SIDE
        small = digit.mnist_digit(decoded)
        assert np.abs(small - mnist.test_images[2] / 255.0).mean() < 0.05


# --- the template match ------------------------------------------------------------------------------------------

@pytest.mark.slow  # an analysis run: about 4 s alone, 14 s on the shared machine
def test_template_match_decides_as_the_confusion_pages_template_classifier(mnist, lenet) -> None:
    """Real noise class images (2,000 pure uniform-noise stimuli, softmax-weighted) and the prediction grouping,
    which leaves classes empty: the cosine's best class is template_classify's on 1,000 real test digits."""
    engine = Analyzer(lenet, mnist, "uniform")
    state = engine.run(AnalysisSettings(NoiseSpec("uniform", seed=0)), 2_000)
    count = 1_000
    for estimator in ("softmax", "predicted"):
        images = class_images(state, estimator, "noise")
        reference = template_classify(images, mnist.test_images[:count], mnist.test_labels[:count],
                                      engine.mean_image).predictions
        cosines = np.stack([digit.template_cosines(x / 255.0, images, engine.mean_image)
                            for x in mnist.test_images[:count]])
        ours = np.array([digit.template_class(c) for c in cosines])
        assert np.array_equal(ours, reference), estimator
        assert np.all(np.isnan(cosines[:, images.empty])) and np.all(np.abs(cosines[:, ~images.empty]) <= 1.0)
        if estimator == "predicted":
            assert images.empty.any()  # the rule for empty classes was exercised


# --- the γ flip --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def block_model():
    """logit_k = Σ of block k's 78 pixels (as in tests/test_attack.py): the brightest block wins, ties go low."""
    import keras

    blocks = np.zeros((10, 784), np.float32)
    for k in range(10):
        blocks[k, k * 78 : (k + 1) * 78] = 1.0
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.layers[-1].set_weights([blocks.T, np.zeros(10, np.float32)])
    return model, blocks.reshape(10, 28, 28)


def test_the_flip_gamma_on_a_model_whose_answer_is_known(block_model) -> None:
    """Input block 3, template block 5: logits (1 − γ)·78 and γ·78 tie at γ = 0.5 (class 3 wins the tie), so the
    first γ of the 0.005 grid that flips is 0.505; with a half-bright template it is 2/3 → 0.67."""
    model, blocks = block_model
    sweep = digit.flip_sweep(model, blocks[3], blocks[5], target=5)
    assert len(sweep.gammas) == 201 and sweep.probabilities.shape == (201, 10)
    assert sweep.first_answer == 3 and sweep.flip_gamma() == 0.505 and sweep.target_gamma() == 0.505
    assert set(sweep.answers[sweep.gammas <= 0.5]) == {3} and set(sweep.answers[sweep.gammas > 0.5]) == {5}
    half = digit.flip_sweep(model, blocks[3], 0.5 * blocks[5], target=5)
    assert half.flip_gamma() == 0.67  # (1 − γ) < γ/2 first at γ > 2/3
    same = digit.flip_sweep(model, blocks[3], blocks[3], target=3)
    assert same.flip_gamma() is None and same.target_gamma() == 0.0


def test_the_flip_gamma_on_a_shipped_model_and_a_real_digit(mnist, lenet) -> None:
    from core.models import predict_probabilities

    seven = mnist.test_images[0] / np.float32(255.0)
    assert mnist.test_labels[0] == 7
    means = np.stack([mnist.train_images[mnist.train_labels == k][:500].mean(axis=0) for k in range(10)])
    template = rescale_to_input(means)[0]  # class 0's mean image, stretched as the page stretches a class image
    sweep = digit.flip_sweep(lenet, seven, template, target=0)
    flip = sweep.flip_gamma()
    assert sweep.first_answer == 7 and flip is not None and 0.2 < flip < 0.9
    before = flip - 0.005
    single = predict_probabilities(lenet, np.stack([blend(seven, template, g) for g in (before, flip)]))
    assert single.argmax(axis=1)[0] == 7 and single.argmax(axis=1)[1] != 7
    table = digit.sweep_table(sweep, [str(k) for k in range(10)])
    assert table.shape == (201, 12) and table["answer"].iloc[0] == "7"


def test_link_parameters_of_the_page() -> None:
    from core.link import PARAMS

    assert PARAMS["digit_input"].parse("upload") == "upload" and PARAMS["digit_r"].parse("0.35") == 0.35
    assert PARAMS["digit_gamma"].parse("0.42") == 0.42 and PARAMS["digit_r"].default == 1.0
    for key, text in [("digit_input", "camera"), ("digit_r", "1.5"), ("digit_gamma", "-0.1")]:
        with pytest.raises(ValueError):
            PARAMS[key].parse(text)


# --- the page ------------------------------------------------------------------------------------------------------

def _chart_bars(at, index: int) -> list[list[float]]:
    from tests.apptest import figure_data

    return [trace["y"] for trace in figure_data(at, index)]


@pytest.mark.slow
def test_page_blank_canvas_bad_upload_then_a_real_digit(mnist, monkeypatch) -> None:
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/your_digit.py")
    assert_clean(at)  # AppTest cannot run the canvas's JavaScript: an untouched canvas, nothing drawn
    assert any("Draw a digit in the black square" in info.value for info in at.info)
    # Only the ten class images to compare with (they load the browser's Plotly code before the first stroke)
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    titles = [a["text"] for a in json.loads(charts[0].proto.spec)["layout"]["annotations"]]
    assert titles == [str(k) for k in range(10)], titles
    assert any("test images' true labels" in c.value for c in at.caption)  # the page's default: ground truth

    at.radio(key="digit_input").set_value("upload").run()
    buffer = io.BytesIO()
    Image.fromarray(mnist.test_images[0]).save(buffer, "GIF")
    at.file_uploader(key="upload").set_value(("digit.gif", buffer.getvalue(), "image/gif")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Cannot use this picture. This is a GIF image; only PNG and JPEG are "
                                           "accepted."]

    at.file_uploader(key="upload").set_value(("grey.png", png_bytes(np.full((40, 40), 128, np.uint8)),
                                              "image/png")).run()
    assert not at.exception and not at.error  # an upload is not told to draw
    assert any("one flat shade" in info.value for info in at.info), [info.value for info in at.info]

    index = int(np.flatnonzero(mnist.test_labels == 4)[0])
    at.file_uploader(key="upload").set_value(("four.png", png_bytes(drawing_of(mnist.test_images[index])),
                                              "image/png")).run()
    assert_clean(at)
    softmax, cosines = _chart_bars(at, 1)
    assert int(np.argmax(softmax)) == 4 and softmax[4] > 0.9
    assert int(np.argmax(cosines)) == 4  # ground-truth class images at r = 0.7: the templates agree
    assert any("it says **4**" in m.value and "They **agree**" in m.value for m in at.markdown)

    # A slider moved: the same picture is not decoded again (0.2 s for a large PNG, and a bad upload's worst
    # case, on every move)
    decoded: list[int] = []
    real_decode = digit.decode_image
    monkeypatch.setattr(digit, "decode_image", lambda raw: decoded.append(len(raw)) or real_decode(raw))
    at.slider(key="digit_r").set_value(0.5).run()
    assert_clean(at) and decoded == []
    at.file_uploader(key="upload").set_value(("grey.png", png_bytes(np.full((40, 40), 127, np.uint8)),
                                              "image/png")).run()
    assert len(decoded) == 1 and any("one flat shade" in info.value for info in at.info)


def test_an_upload_is_kept_when_the_student_draws_or_leaves_and_comes_back(mnist) -> None:
    """Choosing *draw* and then *upload* again (or another page and back) drew the uploader anew, empty: the
    picture and its answer were gone, though the page says it stays in the tab (a review)."""
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/your_digit.py", digit_input="upload")
    index = int(np.flatnonzero(mnist.test_labels == 4)[0])
    at.file_uploader(key="upload").set_value(("four_*x*.png", png_bytes(drawing_of(mnist.test_images[index])),
                                              "image/png")).run()
    assert_clean(at)
    assert any("it says **4**" in m.value for m in at.markdown)
    at.radio(key="digit_input").set_value("draw").run()
    at.radio(key="digit_input").set_value("upload").run()
    assert_clean(at)
    assert at.file_uploader(key="upload").value is None  # drawn anew, empty, as in the browser
    assert any("it says **4**" in m.value for m in at.markdown)
    assert "Your picture `four_*x*.png`, uploaded before" in " ".join(c.value for c in at.caption)
    at.button(key="forget_upload").click().run()
    assert_clean(at)
    assert not any("it says" in m.value for m in at.markdown)
    assert any("Upload a picture of a digit" in info.value for info in at.info)


@pytest.mark.slow
def test_a_canvas_state_that_is_no_picture_gets_a_sentence(monkeypatch) -> None:
    """The canvas's state comes from the browser: a hand-made message with no data URL in it raised inside the
    component's own code, and Streamlit showed its error box (a reviewer, from the code)."""
    import sys

    from tests.apptest import open_page

    at = open_page("pages/your_digit.py")  # imports the component (it registers itself inside a running app)
    canvas = sys.modules["streamlit_drawable_canvas"]
    for garbage in ("not a data url", "data:image/png;base64,abc", 12):  # no marker, bad padding, no text
        monkeypatch.setattr(canvas, "st_canvas",  # the component's own result class, given what a message held
                            lambda *args, value=garbage, **kwargs: canvas.CanvasResult(None, value, True))
        at.run()
        assert not at.exception
        assert [e.value for e in at.error] == ["The drawing did not arrive whole: press *Clear the square* and "
                                               "draw again."], garbage


@pytest.mark.slow
def test_page_from_a_link_mixes_noise_and_blends_a_class_image(mnist) -> None:
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/your_digit.py", digit_input="upload", digit_r="0.6", target="3", digit_gamma="0.8")
    index = int(np.flatnonzero(mnist.test_labels == 1)[0])
    at.file_uploader(key="upload").set_value(("one.png", png_bytes(drawing_of(mnist.test_images[index])),
                                              "image/png")).run()
    assert_clean(at)
    assert at.slider(key="digit_r").value == 0.6 and at.slider(key="digit_gamma").value == 0.8
    # the digit's share and the class images' signal ratio are two sliders on this page: not one symbol for both
    assert at.slider(key="r").label == "Signal ratio r" and at.slider(key="digit_r").label.endswith(" s")
    assert at.number_input(key="target").value == 3
    softmax, _ = _chart_bars(at, 1)
    assert int(np.argmax(softmax)) == 3  # at γ = 0.8 the class image of 3 has taken over
    sweep_lines = _chart_bars(at, 2)
    assert len(sweep_lines) == 2 and len(sweep_lines[0]) == 201
    # where it leaves 1 for 3 at once, one γ is named for both
    assert any("first says **3** at γ = **" in m.value or "turns from **1** to **3**" in m.value for m in at.markdown)


@pytest.mark.slow
def test_the_settings_notes_and_a_class_with_no_image_are_said_outside_the_closed_settings(mnist) -> None:
    """The settings' notes were drawn in the closed expander, unseen: at r = 1 the page matched noise averages that
    never reached the model without a visible word. And a class k never predicted blended flat grey, read as its
    class image fooling the network (a review)."""
    from tests.apptest import assert_clean, open_page

    at = open_page("pages/your_digit.py", digit_input="upload", r="1", part="noise")
    assert any("no noise reaches the model" in w.value for w in at.warning)
    assert not any("no noise reaches the model" in w.value for w in at.expander[0].warning)

    at = open_page("pages/your_digit.py", digit_input="upload", estimator="predicted", part="noise", r="0",
                   n="100", target="0")
    index = int(np.flatnonzero(mnist.test_labels == 1)[0])
    at.file_uploader(key="upload").set_value(("one.png", png_bytes(drawing_of(mnist.test_images[index])),
                                              "image/png")).run()
    assert_clean(at)
    assert [w.value for w in at.warning if "has no class image" in w.value] == [
        "0 has no class image at these settings (the network never chose it in the 100 stimuli), so flat grey "
        "stands in and the sweep below blends grey, not a class image. Pick another class k, or more stimuli or "
        "another grouping in the settings at the top."]


# Widgets that hold a value (buttons, the file uploader and the canvas do not have one a link could carry).
VALUED_WIDGETS = ("radio", "slider", "select_slider", "selectbox", "number_input", "toggle", "checkbox",
                  "text_input", "text_area", "multiselect", "button_group")  # button_group: pills (the Lesson's)


def valued_widgets(at) -> dict[str, object]:
    """Every widget of the page (sidebar included) that holds a value, by key."""
    return {widget.key: widget for kind in VALUED_WIDGETS for widget in at.get(kind)}


def link_bindings(at) -> dict[str, str | None]:
    """Each valued widget's key and the link parameter it is bound to (``bind="query-params"``; None: unbound)."""
    return {key: getattr(widget.proto, "query_param_key", "") or None for key, widget in valued_widgets(at).items()}


@pytest.mark.slow
def test_every_control_of_the_page_is_in_the_link(real_data_dir) -> None:
    """Every control the page shows is bound to a registered link parameter of its own name, and a link with a
    value other than the default for each sets every control (the drawing and the upload are not in the link:
    they stay in the tab, as the page says)."""
    from core.link import PARAMS, link_text
    from tests.apptest import assert_clean, open_page

    link = {"n": 500, "r": 0.0, "noise": "gaussian", "sigma": 0.3, "seed": 5, "estimator": "softmax",
            "part": "noise", "digit_input": "upload", "digit_r": 0.5, "target": 3, "digit_gamma": 0.25,
            "dataset": "fashion_mnist", "arch": "alexnet"}
    assert all(PARAMS[key].default != value for key, value in link.items())
    at = open_page("pages/your_digit.py", **{key: link_text(value) for key, value in link.items()})
    assert_clean(at)
    assert link_bindings(at) == {key: key for key in link}  # none unbound, none missing
    assert {key: widget.value for key, widget in valued_widgets(at).items()} == link
    assert at.file_uploader(key="upload") is not None  # "upload" from the link shows the uploader
    # The browser writes a bound choice's option *label* into the link: each must read back as a value the link
    # writes as that label (a format_func once wrote digit_input=upload+a+picture, which the link then refused;
    # the sidebar's "Fashion-MNIST" is fashion_mnist, written "Fashion-MNIST").
    for kind in ("radio", "selectbox"):
        for widget in at.get(kind):
            param = PARAMS[widget.key]
            assert [param.written(param.parse(label)) for label in widget.options] == list(widget.options)


# --- the browser -------------------------------------------------------------------------------------------------

def _softmax_labels(page) -> list[str]:
    from tests.browser import svg_texts

    charts = page.locator('[data-testid="stPlotlyChart"]')
    return svg_texts(charts.nth(1)) if charts.count() >= 2 else []


def _stroke(page, canvas, points: list[tuple[int, int]]) -> None:
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for start, end in zip(points, points[1:]):
        for t in np.linspace(0, 1, 12)[1:]:
            page.mouse.move(box["x"] + start[0] + t * (end[0] - start[0]),
                            box["y"] + start[1] + t * (end[1] - start[1]))
    page.mouse.up()


def _clear_the_square(page):
    """Press *Clear the square* and return the canvas once the page has settled: a stroke begun while the reruns
    after the press were still on their way went to the page (it selected text below the square) in 1 run of 3."""
    from tests.browser import wait_until_idle

    page.get_by_role("button", name="Clear the square").click()
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    wait_until_idle(page)
    page.wait_for_timeout(1_000)
    return page.locator("canvas.upper-canvas")


def _visible_width(canvas) -> float:
    """How much of the canvas shows: its width clipped by every scrolling or clipping box around it."""
    return canvas.evaluate("""(node) => {
        const box = node.getBoundingClientRect(); let right = box.right;
        for (let e = node.parentElement || node.getRootNode().host; e;
             e = e.parentElement || (e.getRootNode && e.getRootNode().host) || null) {
            if (getComputedStyle(e).overflowX !== 'visible') right = Math.min(right, e.getBoundingClientRect().right);
        }
        return right - box.left; }""")


@pytest.mark.slow
def test_browser_draw_a_stroke_and_the_softmax_changes(real_data_dir, tmp_path) -> None:
    """streamlit run app.py and headless Chromium: the canvas renders, a dot is no drawing, a vertical stroke is
    read as a 1, and a bar across its top (a 7) changes the network's answer."""
    import os
    import time
    from pathlib import Path

    from tests.browser import chromium, streamlit_server, wait_for_change

    with streamlit_server(real_data_dir) as (url, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1800})
        page.goto(f"{url}/your_digit")
        page.wait_for_selector("canvas.upper-canvas", timeout=240_000)
        canvas = page.locator("canvas.upper-canvas")
        assert canvas.bounding_box()["width"] == 280
        assert "Draw a digit in the black square" in page.inner_text("body")
        _stroke(page, canvas, [(140, 140), (142, 141)])  # a click, barely moved: one pen-wide dot
        page.get_by_text("That is only a dot").wait_for(timeout=120_000)
        assert page.locator('[data-testid="stPlotlyChart"]').filter(has_text="network: softmax").count() == 0
        canvas = _clear_the_square(page)
        _stroke(page, canvas, [(150, 40), (140, 250)])
        one = wait_for_change(lambda: _softmax_labels(page), [], timeout=240,
                              complete=lambda texts: any(t.startswith("network: softmax") for t in texts))
        said = page.locator('[data-testid="stMarkdown"]').filter(has_text="the network's softmax").inner_text()
        assert "it says 1" in said, said
        _stroke(page, canvas, [(60, 45), (230, 40), (150, 250)])
        seven = wait_for_change(lambda: _softmax_labels(page), one, timeout=240,
                                complete=lambda texts: any(t.startswith("network: softmax") for t in texts))
        assert seven != one
        said = page.locator('[data-testid="stMarkdown"]').filter(has_text="the network's softmax").inner_text()
        assert "it says 7" in said, said
        # A button clears the square: the canvas's own Clear shows only while a mouse hovers over it (never on a phone)
        canvas = _clear_the_square(page)
        # Begun near the top right, the pointer coming straight from the button: the canvas's hidden toolbar lay
        # there until a hover moved it, and took the press (nothing drawn, nothing sent) before
        # streamlit_internals.CANVAS_TOOLBAR_OUT_OF_THE_WAY
        _stroke(page, canvas, [(160, 20), (140, 260)])
        wait_for_change(lambda: _softmax_labels(page), [], timeout=240,
                        complete=lambda texts: any(t.startswith("network: softmax") for t in texts))
        said = page.locator('[data-testid="stMarkdown"]').filter(has_text="the network's softmax").inner_text()
        assert "it says 1" in said, said  # the 7's bar went with the clearing
        _stroke(page, canvas, [(60, 45), (230, 40), (150, 250)])
        wait_for_change(lambda: page.locator('[data-testid="stMarkdown"]').filter(
            has_text="the network's softmax").inner_text(), said, timeout=240)
        # README's picture (the e2e test's size): the canvas, the 28 × 28 strip and the two answers in one view
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.get_by_text("Your digit's share s").evaluate("node => node.scrollIntoView({block: 'start'})")
        time.sleep(1)
        page.screenshot(path=str(Path(os.environ.get("NOISELENS_SCREENSHOTS") or tmp_path) / "your_digit.png"))
        # The bars' numbers at the size given (Plotly shrank twenty of them to fit their bars: 12-px boxes here)
        heights = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="network: softmax").evaluate(
            "chart => [...chart.querySelectorAll('text.bartext')].map(t => t.getBoundingClientRect().height)")
        assert heights and min(heights) >= 15, heights
        # The link the browser writes for the upload choice opens the upload (it once wrote a label the link refused)
        page.get_by_text("upload", exact=True).click()
        page.wait_for_function("location.search.includes('digit_input=upload')", timeout=60_000)
        assert "digit_input=upload&" in page.url + "&", page.url
        page.goto(page.url)
        page.wait_for_selector('[data-testid="stFileUploader"]', timeout=240_000)
        assert "not valid" not in page.inner_text("body")
        # A small laptop with the sidebar open: the whole square shows (in columns of 1:2 its right 23 pixels at
        # 1280 and 108 at 1024 were cut off), and the answers go under it where they do not fit beside it.
        for width, height in ((1280, 720), (1024, 700)):
            small = browser.new_page(viewport={"width": width, "height": height})
            small.goto(f"{url}/your_digit")
            small.wait_for_selector("canvas.upper-canvas", timeout=240_000)
            assert _visible_width(small.locator("canvas.upper-canvas")) == 280, width
            small.close()


@pytest.mark.slow
def test_browser_the_drawing_is_kept_through_an_upload_and_another_page(real_data_dir) -> None:
    """A drawing was gone after *upload* and back to *draw*, or another page and back, though the page says it
    stays in the tab (a review): the square is drawn anew with it, its answer stays, and a stroke adds to it. (The
    dataset switched there and back is not checked here: in the whole suite the answer did not change after the
    click within 240 s, twice, though it did in every run of this test alone; see the session's note.)"""
    from tests.browser import chromium, streamlit_server, wait_for_change, wait_until_idle

    def says() -> str:
        return page.locator('[data-testid="stMarkdown"]').filter(has_text="the network's softmax").inner_text()

    def ink() -> int:  # white pixels on the square, as the student sees it
        return page.locator("canvas.dc-canvas.lower-canvas").evaluate(
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
            " for (let i = 0; i < d.length; i += 4) n += d[i] > 128 && d[i + 3] > 128; return n; }")

    with streamlit_server(real_data_dir) as (url, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1800})
        page.goto(f"{url}/your_digit")
        page.wait_for_selector("canvas.upper-canvas", timeout=240_000)
        wait_until_idle(page)
        _stroke(page, page.locator("canvas.upper-canvas"), [(150, 40), (140, 250)])
        wait_for_change(lambda: _softmax_labels(page), [], timeout=240,
                        complete=lambda texts: any(t.startswith("network: softmax") for t in texts))
        assert "it says 1" in says() and ink() > 1000
        drawn = ink()
        page.get_by_text("upload", exact=True).click()
        page.wait_for_selector('[data-testid="stFileUploader"]', timeout=60_000)
        page.get_by_text("draw", exact=True).click()
        page.wait_for_selector("canvas.upper-canvas", timeout=60_000)
        page.get_by_text("it says 1").wait_for(timeout=120_000)
        page.wait_for_selector("canvas.dc-canvas.lower-canvas", timeout=60_000)
        wait_for_change(ink, 0, timeout=30)
        assert abs(ink() - drawn) < 0.02 * drawn, (ink(), drawn)
        page.locator("[data-testid=stSidebar] a[data-testid=stPageLink-NavLink]", has_text="Models").click()
        page.wait_for_function("location.pathname.endsWith('/models')", timeout=60_000)
        wait_until_idle(page, charts=0)
        page.locator("[data-testid=stSidebar] a[data-testid=stPageLink-NavLink]", has_text="Your digit").click()
        page.wait_for_selector("canvas.upper-canvas", timeout=240_000)
        page.get_by_text("it says 1").wait_for(timeout=120_000)
        wait_for_change(ink, 0, timeout=30)
        _stroke(page, page.locator("canvas.upper-canvas"), [(60, 45), (230, 40), (150, 250)])  # the 1 a 7
        page.get_by_text("it says 7").wait_for(timeout=120_000)
        assert ink() > drawn


def test_answer_bars_say_what_their_red_means() -> None:
    """Each panel's choice is its one red bar, and its title says so (the bars had no legend)."""
    from core.plots_digit import WINNER_COLOUR, answers_figure

    probabilities, cosines = np.full(10, 0.02), np.linspace(-0.2, 0.1, 10)
    probabilities[3] = 0.82
    fig = answers_figure(probabilities, cosines, [str(k) for k in range(10)])
    for trace, winner in zip(fig.data, (3, 9)):
        assert [k for k, c in enumerate(trace.marker.color) if c == WINNER_COLOUR] == [winner]
    titles = [a.text for a in fig.layout.annotations]
    assert all(f"color:{WINNER_COLOUR}'>red</span>" in t for t in titles), titles


def test_answer_bars_are_numbered_where_they_win_or_come_close() -> None:
    """Twenty numbers, nine of them "0.00", were shrunk by Plotly to fit 19-px bars at 1280 px (7-10 px text): the
    winner and the bars within half of its value are numbered, at a size Plotly may not shrink."""
    from core.plots_digit import answers_figure

    probabilities, cosines = np.full(10, 0.001), np.array([-0.3, 0.1, 0.25, 0.5, -0.1, 0.0, 0.2, np.nan, 0.3, 0.05])
    probabilities[[3, 5]] = 0.62, 0.37
    softmax, cosine = answers_figure(probabilities, cosines, [str(k) for k in range(10)]).data
    assert [k for k, t in enumerate(softmax.text) if t] == [3, 5] and softmax.text[3] == "0.62"
    assert [k for k, t in enumerate(cosine.text) if t] == [2, 3, 7, 8] and cosine.text[7] == "–"
    assert all(t.constraintext == "none" and t.textfont.size == 12 for t in (softmax, cosine))


def test_on_a_phone_the_answer_panels_stack() -> None:
    """Side by side on a phone the two panels' titles ran into each other and off the screen, and Plotly wrote the
    bars' numbers at 5-6 px."""
    from core.plots_digit import answers_figure

    probabilities, cosines = np.full(10, 0.1), np.linspace(-0.2, 0.1, 10)
    phone = answers_figure(probabilities, cosines, [str(k) for k in range(10)], phone=True)
    assert phone.layout.xaxis.domain == phone.layout.xaxis2.domain  # full width each, one above the other
    assert phone.layout.yaxis.domain[0] > phone.layout.yaxis2.domain[1]
    assert phone.layout.yaxis2.title.text == "cosine similarity"
    assert all(trace.textfont.size == 11 and trace.constraintext == "none" for trace in phone.data)
    wide = answers_figure(probabilities, cosines, [str(k) for k in range(10)])
    assert wide.layout.yaxis.domain == wide.layout.yaxis2.domain  # side by side on a wide screen
    assert wide.layout.yaxis2.title.text is None  # it lay over the left panel's bars 8 and 9 and their numbers

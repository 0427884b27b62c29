"""A digit of the student's own: a drawing or an uploaded picture made into an MNIST digit, and what the model and
the class images make of it.

MNIST's digits were made from scanned ink: size-normalised into a 20 × 20 box keeping the aspect ratio (with
anti-aliasing, hence the grey levels), then placed in the 28 × 28 field so that their centre of mass sits at its
centre, pixel (14, 14) (measured on the test set: 14.0 ± 0.3 in both axes, an integer translation). A drawing made
the same way looks to the network like the digits it learned from; one that is not (too small, off-centre, dark on
light) is misread for reasons that have nothing to do with the digit.

Uploads are untrusted bytes: only PNG and JPEG, at most ``MAX_UPLOAD_BYTES`` and ``MAX_SIDE`` pixels a side, with
the size read from the header before any pixel is decoded, so a decompression bomb is refused unopened; a
progressive JPEG's scans are counted from its markers first too (libjpeg goes over every block once per scan, and
sets no limit). Everything happens in memory; nothing is written to disk.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis import ClassImages, rescale_to_input
from core.attack import blend
from core.config import IMAGE_SHAPE, NUM_CLASSES

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # 5 MB
MAX_UPLOAD_MB = 5
MAX_SIDE = 4_000  # pixels a side
WORKING_SIDE = 1_000  # larger pictures are shrunk to this before anything else (a 4,000² RGBA float copy is 256 MB)
#: The Pillow plugins that may parse an upload; no other sees the bytes. A JPEG carrying an MPF block (a camera's
#: multi-picture file; older Pillow also read phones' HDR gain-map photos so) comes out of the JPEG plugin as "MPO",
#: a JPEG to the student: its first image is the photo.
PILLOW_FORMATS = ("PNG", "JPEG")
#: Scans a JPEG may have: libjpeg's progressive scripts write about 10. A 5-MB file of one scan repeated ~160,000
#: times (a reviewer) would hold a core for 13-25 minutes at 4,000² (4.6-8.8 ms a scan); 100 cost at most ~1 s.
MOST_JPEG_SCANS = 100
DIGIT_BOX = 20  # MNIST's digits fill a 20 × 20 box inside the 28 × 28 field
MNIST_CENTRE = (14.0, 14.0)  # where MNIST put each digit's centre of mass (row, column)
INK_LEVEL = 0.2  # a pixel with at least this share of the darkest-to-brightest range is ink, for the crop
MIN_CONTRAST = 0.1  # less difference than this between ink and background: nothing was drawn
#: Ink spanning less of the picture's larger side than this is a dot, not a drawing: the canvas's pen alone is 7 %
#: of its side, and a click, blown up into MNIST's 20 × 20 box, became a blob the network read as a digit.
DOT_EXTENT = 0.1
# A picture's border brighter in some places than others by this much (of the 0-1 range, 10th to 90th percentile) is
# paper lit unevenly: the paper's level is then taken pixel by pixel (``paper_under``), not once from the border
# (one level made a shaded band ink, a review: a 7 read at 67 %). An even border keeps the one level, bit for bit.
UNEVEN_LIGHT = 0.05
#: The γ grid of the flip search: 201 blends in one model call (a step of 0.005, so the page's 0.01 slider stays on
#: it). 501 took 0.65 s on LeNet here, under load, for every stroke of every student; 201 take 0.24 s.
FLIP_GAMMAS = np.round(np.linspace(0.0, 1.0, 201), 3)


class ImageRejected(ValueError):
    """An upload we will not decode, or a picture with no digit in it; the message says why, in one sentence."""


class BlankDrawing(ImageRejected):
    """Nothing drawn: the canvas (or picture) has no ink."""


class DotOnly(ImageRejected):
    """The ink is a dot or a speck (see ``DOT_EXTENT``), too small to be a drawing of anything."""


def decode_image(raw: bytes) -> np.ndarray:
    """Untrusted PNG or JPEG bytes -> an ``(H, W)`` float32 image in [0, 1] where 1 is ink.

    Checks, in this order, each with its own message: size in bytes; PNG or JPEG (only those two Pillow readers see
    the bytes; another picture is named from its first bytes); the pixel size from the header (before decoding: a
    50-byte PNG may claim 100,000 × 100,000 pixels); a JPEG's scans (``jpeg_scans``); the file's integrity
    (``verify``); then the decoding itself (a truncated file fails here). Pillow's own decompression-bomb guard is
    kept as a second line: its warning is turned into a refusal too.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(raw) == 0:
        raise ImageRejected("The file is empty.")
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"The file is {len(raw) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_MB} MB.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw), formats=PILLOW_FORMATS) as header:  # reads the header only
                size = header.size
                if max(size) > MAX_SIDE:
                    raise ImageRejected(f"The image is {size[0]:,} × {size[1]:,} pixels; at most {MAX_SIDE:,} "
                                        f"a side is accepted.")
                if header.format != "PNG" and jpeg_scans(raw) > MOST_JPEG_SCANS:
                    raise ImageRejected(f"This JPEG is stored in more than {MOST_JPEG_SCANS} passes (scans), which "
                                        "would take minutes to decode; save it again as an ordinary JPEG or a PNG.")
                header.verify()  # checks the PNG chunks' CRCs without decoding the pixels
            with Image.open(io.BytesIO(raw), formats=PILLOW_FORMATS) as image:
                if image.format != "PNG":  # decode at 1/2, 1/4 or 1/8 scale where that still leaves WORKING_SIDE
                    image.draft(image.mode, (WORKING_SIDE, WORKING_SIDE))
                image.load()
                # a phone stores a portrait photo sideways and notes its turn in EXIF: read as stored, a 7 was a 2
                image = ImageOps.exif_transpose(image)
                if max(image.size) > WORKING_SIDE:  # the digit ends up 20 pixels tall: spare the memory
                    image = image.convert("RGBA").reduce(-(-max(image.size) // WORKING_SIDE))  # box mean
                return _ink_from(image)
        except ImageRejected:
            raise
        except UnidentifiedImageError:
            if kind := other_picture_kind(raw):
                raise ImageRejected(f"This is a {kind} image; only PNG and JPEG are accepted.") from None
            raise ImageRejected("This file is not a picture we can read (perhaps it was renamed, or is damaged); "
                                "upload a PNG or JPEG.") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected(f"The image claims far too many pixels to decode; at most {MAX_SIDE:,} pixels a "
                                f"side is accepted.") from None
        except (OSError, SyntaxError, ValueError, EOFError) as err:  # Pillow's ways of saying "broken file"
            raise ImageRejected(f"The image is damaged or truncated and cannot be decoded ({err}).") from None


#: Signatures of pictures a student may try, so a refusal names what was uploaded without a parser reading it.
OTHER_PICTURES = ((b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
                  (b"MM\x00*", "TIFF"), (b"\x00\x00\x01\x00", "ICO"))


def other_picture_kind(raw: bytes) -> str | None:
    """The kind of a picture we do not decode, from its first bytes (WebP and HEIC/AVIF by their container)."""
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WebP"
    if raw[4:8] == b"ftyp":
        return "HEIC or AVIF"
    return next((kind for signature, kind in OTHER_PICTURES if raw.startswith(signature)), None)


def jpeg_scans(raw: bytes) -> int:
    """At least as many as the scans libjpeg will decode: the SOS markers (FF DA) anywhere in the file. Entropy-coded
    data stuffs every FF byte (FF 00), so it holds none; a walk over the marker segments stopped at a junk byte,
    which libjpeg skips, and one junk byte let a file of hundreds of scans through (a reviewer). An EXIF
    thumbnail's or an MPO's second image's scans count too: a few, against the limit's 100."""
    return raw.count(b"\xff\xda")


def _ink_from(image: Any) -> np.ndarray:
    """Grey levels in [0, 1] with the ink bright: a drawing on a transparent background is its alpha (where the pen
    went); an opaque picture is its luminance (Pillow's "L"), inverted when the background is light. Worked out on
    the whole grey levels, so a picture and its negative give the same digit to the bit."""
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3]
    if alpha.min() < 252 and int(alpha.max()) - int(alpha.min()) >= MIN_CONTRAST * 255:
        grey = np.asarray(rgba.convert("L"))
        opaque = alpha >= 252
        if not _is_a_card(opaque, grey):
            return alpha.astype(np.float32) / np.float32(255.0)
        # a picture on an opaque card with a transparent margin (a cut-out, a rounded corner): the alpha was the
        # card, a filled square read as "0" (a review); the margin takes the card's colour, and the card is read
        card = np.median(grey[opaque])
        see_through = alpha.astype(np.float32) / np.float32(255.0)
        flat = np.rint(see_through * grey + (1 - see_through) * card).astype(np.uint8)
        return bright_ink(flat).astype(np.float32) / np.float32(255.0)
    return bright_ink(np.asarray(image.convert("L"))).astype(np.float32) / np.float32(255.0)


def _is_a_card(opaque: np.ndarray, grey: np.ndarray) -> bool:
    """Whether the opaque part is a card with a picture of its own, not the strokes of a pen on a transparent canvas:
    it fills most of the box around it (a digit's strokes fill a fifth of MNIST's square; a card of any size, or
    with rounded corners, nearly all of its box) and has contrast inside."""
    if not opaque.any():
        return False
    rows, columns = np.flatnonzero(opaque.any(axis=1)), np.flatnonzero(opaque.any(axis=0))
    box = opaque[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    return bool(box.mean() > 0.5 and int(np.ptp(grey[opaque])) >= MIN_CONTRAST * 255)


def bright_ink(grey: np.ndarray) -> np.ndarray:
    """Invert a dark-on-light uint8 picture (judged by the median of its border) so that the ink is bright, as in
    MNIST."""
    grey = np.asarray(grey, np.uint8)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return (255 - grey) if np.median(border) > 127.5 else grey


def paper_under(ink: np.ndarray) -> np.ndarray:
    """The paper's own brightness under bright ink, lit unevenly (a photo by a lamp): at each pixel the least
    within a quarter of the picture's side, then the most of those (a grey opening, which takes away strokes
    thinner than that window and keeps the light's slow change), smoothed."""
    from scipy import ndimage

    window = max(3, max(ink.shape) // 4)
    opened = ndimage.maximum_filter(ndimage.minimum_filter(ink, window), window)
    return ndimage.uniform_filter(opened, window)


def mnist_digit(ink: np.ndarray, least_extent: float = 0.0) -> np.ndarray:
    """Bright ink of any size -> the ``(28, 28)`` float32 digit in [0, 1] that MNIST would have made of it.

    The background (the border's median) becomes 0 and the brightest ink 1; the image is cropped to the ink, fitted
    into 20 × 20 keeping its aspect ratio (Lanczos, anti-aliased when shrinking), and moved by whole pixels so that
    its centre of mass lands on (14, 14). Raises ``BlankDrawing`` when there is no ink, ``DotOnly`` when the ink
    spans less than ``least_extent`` of the picture's larger side (a drawing, not an upload, is held to it).
    """
    from PIL import Image
    from scipy import ndimage

    ink = np.asarray(ink, np.float32)
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    background = float(np.median(border))
    if np.percentile(border, 90) - np.percentile(border, 10) >= UNEVEN_LIGHT:
        ink, background = ink - paper_under(ink), 0.0
    span = float(ink.max()) - background
    if span < MIN_CONTRAST:
        raise BlankDrawing("There is no digit yet: draw one (or upload a picture of one).")
    ink = np.clip((ink - background) / span, 0.0, 1.0)
    rows = np.flatnonzero((ink >= INK_LEVEL).any(axis=1))
    columns = np.flatnonzero((ink >= INK_LEVEL).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    if max(crop.shape) < least_extent * max(ink.shape):
        raise DotOnly("That is only a dot: blown up into MNIST's 20 × 20 box it would be a blob.")
    scale = DIGIT_BOX / max(crop.shape)
    height, width = (max(1, min(DIGIT_BOX, round(side * scale))) for side in crop.shape)
    stroke = Image.fromarray(np.ascontiguousarray(crop, np.float32))
    fitted = np.asarray(stroke.resize((width, height), Image.Resampling.LANCZOS))
    fitted = np.clip(fitted, 0.0, None)
    fitted = fitted / max(float(fitted.max()), 1e-6)  # full ink, as MNIST's strokes reach 255
    field = np.zeros(IMAGE_SHAPE, np.float32)
    top, left = (IMAGE_SHAPE[0] - height) // 2, (IMAGE_SHAPE[1] - width) // 2
    field[top : top + height, left : left + width] = fitted
    centre = ndimage.center_of_mass(field)
    move = [round(target - now) for target, now in zip(MNIST_CENTRE, centre)]
    return ndimage.shift(field, move, order=0, mode="constant", cval=0.0).astype(np.float32)


def template_cosines(image: np.ndarray, images: ClassImages, mean_image: np.ndarray) -> np.ndarray:
    """Cosine similarity of one 0–1 input to each class image, with ``analysis.template_classify``'s centring.

    The input is centred on the mean training image, the templates on their mean over the non-empty classes; an
    empty class gets NaN. The largest value is the class the Confusion page's template classifier would give.
    """
    valid = ~images.empty
    templates = np.asarray(images.images, np.float64).reshape(NUM_CLASSES, -1)
    if not valid.any():
        raise ValueError("no class has a classification image yet")
    templates = np.nan_to_num(templates - templates[valid].mean(axis=0))
    centred = np.asarray(image, np.float64).reshape(-1) - np.asarray(mean_image, np.float64).reshape(-1)
    lengths = np.linalg.norm(templates, axis=1) * max(float(np.linalg.norm(centred)), 1e-12)
    cosines = templates @ centred / np.maximum(lengths, 1e-12)
    cosines[~valid | (lengths == 0)] = np.nan
    return cosines


def template_class(cosines: np.ndarray) -> int:
    """The class whose template matches best (empty classes never win)."""
    return int(np.nanargmax(cosines))


def class_templates(images: ClassImages) -> np.ndarray:
    """The ten class images stretched to the 0–1 input range, as the Attack page blends them (flat grey for a
    class that has none)."""
    return rescale_to_input(np.asarray(images.images))


def class_template(images: ClassImages, target: int) -> np.ndarray:
    """Class ``target``'s image of ``class_templates``."""
    return class_templates(images)[target]


@dataclass(frozen=True)
class FlipSweep:
    """The model's softmax along ``x' = (1 − γ)·x + γ·T_k`` on a fine γ grid."""

    gammas: np.ndarray  # (G,)
    probabilities: np.ndarray  # (G, 10)
    target: int

    @property
    def answers(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def first_answer(self) -> int:
        """The model's answer at γ = 0: the input alone."""
        return int(self.answers[0])

    def flip_gamma(self) -> float | None:
        """The smallest γ on the grid at which the answer is no longer the input's own (None: it never changes)."""
        changed = np.flatnonzero(self.answers != self.first_answer)
        return float(self.gammas[changed[0]]) if len(changed) else None

    def target_gamma(self) -> float | None:
        """The smallest γ at which the model answers the target class (0 if it already does; None: never)."""
        hits = np.flatnonzero(self.answers == self.target)
        return float(self.gammas[hits[0]]) if len(hits) else None


def flip_sweep(model: Any, image: np.ndarray, template: np.ndarray, target: int,
               gammas: np.ndarray = FLIP_GAMMAS) -> FlipSweep:
    """Blend the template into the input at every γ of the grid (``core.attack.blend``) and classify all the
    blends in one batched model call."""
    from core.models import predict_probabilities

    gammas = np.asarray(gammas, np.float64)
    blends = blend(np.asarray(image, np.float32)[None], template, gammas[:, None, None])
    return FlipSweep(gammas, predict_probabilities(model, blends), int(target))


def answers_table(probabilities: np.ndarray, cosines: np.ndarray, class_names: tuple[str, ...] | list[str]) -> Any:
    """The two bar charts' numbers, one row per class."""
    import pandas as pd

    return pd.DataFrame({"class": list(range(NUM_CLASSES)), "name": list(class_names),
                         "softmax": np.asarray(probabilities, float), "template_cosine": np.asarray(cosines, float)})


def sweep_table(sweep: FlipSweep, class_names: tuple[str, ...] | list[str]) -> Any:
    """The sweep's numbers: the softmax of every class at every γ, and the answer."""
    import pandas as pd

    table = pd.DataFrame(sweep.probabilities, columns=[f"p_{name}" for name in class_names])
    table.insert(0, "gamma", sweep.gammas)
    table["answer"] = [class_names[a] for a in sweep.answers]
    return table

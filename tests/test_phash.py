"""The one pHash: upright (EXIF orientation applied), the same value at every site."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from landslide.params import SplitParams
from landslide.phash import PHASH_SIDE, phash, phash_hex

TURN = {  # orientation tag -> how the pixels are stored so that the photo shows upright
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
}


def scene(size: tuple[int, int] = (300, 200)) -> Image.Image:
    rng = np.random.default_rng(3)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = (xx * 255 / w * 0.6 + yy * 255 / h * 0.3).astype(np.float64)
    base[h // 4 : h // 2, w // 5 : w // 2] += 60  # a bright patch off-centre: not symmetric
    noise = rng.normal(0, 2, (h, w))
    grey = np.clip(base + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey, grey // 2 + 60, 255 - grey], axis=-1), "RGB")


def stored_turned(upright: Image.Image, orientation: int, path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.transpose(TURN[orientation]).save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("orientation", sorted(TURN))
def test_a_turned_copy_has_the_hash_of_the_original(tmp_path: Path, orientation: int) -> None:
    upright = scene()
    original = tmp_path / "a.jpg"
    upright.save(original, quality=95)
    turned = stored_turned(upright, orientation, tmp_path / "b.jpg")
    with Image.open(turned) as im:
        assert ImageOps.exif_transpose(im).size == upright.size  # shown the same
        stored = imagehash.phash(im.convert("L"))  # what split hashed before: far away
    near = SplitParams().dup_distance  # what split and scrape call the same photo
    assert phash(original) - phash(turned) <= near  # JPEG blocks differ, not the photo
    assert phash(original) - stored > 3 * near


def test_no_orientation_tag_keeps_the_values_scrape_stored(tmp_path: Path) -> None:
    """For a photo without an orientation tag: the algorithm manifests were written with."""
    for size in ((300, 200), (1000, 700), (90, 60)):
        im = scene(size)
        g = im.convert("L")
        factor = min(g.size) // PHASH_SIDE
        old = str(imagehash.phash(g.reduce(factor) if factor >= 2 else g))
        assert phash_hex(im) == old


def test_an_upright_image_is_not_turned_twice(tmp_path: Path) -> None:
    turned = stored_turned(scene(), 6, tmp_path / "t.jpg")
    with Image.open(turned) as im:
        upright = ImageOps.exif_transpose(im)
        assert phash(upright) == phash(im)


def test_every_site_uses_it(tmp_path: Path) -> None:
    from landslide.curate import _phash
    from landslide.scrape.dedup import phash_of
    from landslide.validate import _open_image

    upright = scene((640, 480))
    path = stored_turned(upright, 6, tmp_path / "t.jpg")
    want = phash_hex(path)
    with Image.open(path) as im:
        assert phash_of(im) == want
    assert _phash(path) == want
    assert _open_image(path, hashed=True)["phash"] == want


def test_modes_and_paths(tmp_path: Path) -> None:
    for mode in ("L", "P", "RGBA", "I;16", "CMYK", "1"):
        im = scene().convert("RGB").convert(mode) if mode != "I;16" else scene().convert("I;16")
        assert len(phash_hex(im)) == 16
    path = tmp_path / "x.png"
    scene().save(path)
    assert phash_hex(path) == phash_hex(str(path)) == phash_hex(scene())

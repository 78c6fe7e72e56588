"""The photo's colours, measured from its pixels -> #yellow, #red, #blackandwhite, #colorful.

People tag colours a lot: on HARRISON, #yellow is on 4.6% of the posts, #black 3.4%, #green 2.8%, and a
tenth of its photos were collected for a colour tag. ImageNet has no colour classes, so the zero-shot model
could only guess them from text (#black sits near 'black swan' and 'black widow'), and they came out on
photos of any colour: #black was in 13 of the 15 demo lists before the content-first rules, and the eagle
still said #yellow. Here the colour tags are decided by the pixels of the crop the model sees instead:
what the model guessed for them is dropped, and each colour that covers enough of the photo moves a share of
what the photo shows onto its tags, the same way on PyTorch and in an export (no weights, a few numpy ops
on a 28 x 28 sample of the crop: about 0.06 ms a photo).

A pixel counts for a hue when it is coloured (HSV saturation >= 0.35, value >= 0.3, chroma >= 0.15);
brown is a dark or greyish orange or yellow, pink also a light red, and a dark pink is red or purple;
black is value < 0.15; white is saturation < 0.1 at value > 0.88.
A photo whose lit pixels' mean chroma is below 0.006 is black and white, and says nothing else about
colour; one with four hues over 5% each is colourful. The rules were set on 48 photos of clothing-small and
MSRC-v2 and judged by eye on 48 others (docs/quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hashtagger.models.detections import checked_settings, gated_sigmoid
from hashtagger.models.labels import tag_index

#: The measured colours, in the order `colour_shares` returns them.
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
HUES = 7  # the first seven are hues; brown, black and white are measured apart
#: Upper hue bound (degrees) of red, orange, yellow, green, blue, purple, pink; above pink is red again.
HUE_EDGES = (15.0, 40.0, 62.0, 190.0, 255.0, 290.0, 345.0)
RED, PURPLE, PINK = 0, 5, 6
#: The hashtags each measured colour (and the two whole-photo looks) supports, and how much.
COLOUR_TAGS: dict[str, dict[str, float]] = {
    **{c: {c: 1.0} for c in COLOURS},
    "blackandwhite": {"blackandwhite": 1.0, "monochrome": 0.3},
    "colorful": {"colorful": 1.0, "colourful": 0.5},
}
LOOKS = ("blackandwhite", "colorful")
#: Black and white must cover more of the photo than a hue does to count (shadows, skies, backgrounds).
NEUTRAL_EXTRA = 0.3
#: Below this share of the photo a colour moves nothing at all.
SHARE_MIN = 0.15
#: Mean chroma of the lit pixels: black and white at or below the first, not at all above the second.
GREY_CHROMA = (0.006, 0.012)
COLOURFUL_HUES, COLOURFUL_SHARE = 4, 0.05


def _hsv(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 NCHW RGB -> hue (degrees), saturation, value, chroma (N, h, w) on every eighth pixel of each
    eighth row (28 x 28 on the model's 224 px crop: shares to about 2%)."""
    x = batch[:, :, ::8, ::8].astype(np.float32) / 255.0
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    top, chroma = x.max(axis=1), x.max(axis=1) - x.min(axis=1)
    c = np.maximum(chroma, 1e-6)
    hue = np.where(top == r, ((g - b) / c) % 6.0, np.where(top == g, (b - r) / c + 2.0, (r - g) / c + 4.0))
    return hue * 60.0, chroma / np.maximum(top, 1e-6), top, chroma


def colour_shares(batch: np.ndarray) -> np.ndarray:
    """(N, len(COLOURS) + 1): the share of each photo's pixels of each colour, then the mean chroma of its
    lit pixels (1 for a photo with almost none: dark, not black and white)."""
    hue, sat, value, chroma = _hsv(batch)
    coloured = (sat >= 0.35) & (value >= 0.3) & (chroma >= 0.15)
    band = np.digitize(hue, HUE_EDGES) % HUES  # past pink is red again
    warm = (hue >= 10.0) & (hue < 50.0)
    brown = coloured & warm & ((value < 0.6) | (sat < 0.5))  # dark or greyish orange: wood, fur, tan
    light_red = (band == RED) & (sat < 0.55) & (value > 0.75)
    dark_pink = (band == PINK) & (value < 0.55)
    band = np.where(light_red, PINK, band)
    band = np.where(dark_pink, np.where(hue >= 315.0, RED, PURPLE), band)  # crimson is red, plum purple
    out = np.zeros((len(batch), len(COLOURS) + 1), dtype=np.float32)
    for k in range(HUES):
        out[:, k] = ((band == k) & coloured & ~brown).mean(axis=(1, 2))
    out[:, HUES] = brown.mean(axis=(1, 2))
    out[:, HUES + 1] = (value < 0.15).mean(axis=(1, 2))
    out[:, HUES + 2] = ((sat < 0.1) & (value > 0.88)).mean(axis=(1, 2))
    lit = value >= 0.15  # a dark photo (the Hubble deep field) is judged by its lit pixels
    out[:, -1] = np.where(lit.mean(axis=(1, 2)) >= 0.05, _mean_where(chroma, lit), 1.0)
    return out


def _mean_where(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, h, w) -> (N,) the mean of x over each photo's masked pixels (0 where none)."""
    return (x * mask).sum(axis=(1, 2)) / np.maximum(mask.sum(axis=(1, 2)), 1)


@dataclass
class ColourTags:
    """How the measured colours become content: p = sigmoid(slope * (share - share50)) per colour (black
    and white NEUTRAL_EXTRA later), 1 for a black-and-white or colourful photo; the largest p, times
    `share`, of q goes to their tags, after the model's own guess for those tags is dropped."""

    vocabulary: list[str] = field(repr=False)
    share: float = 0.1
    share50: float = 0.3
    slope: float = 15.0
    weights: np.ndarray = field(init=False, repr=False)  # (colours + looks, V), rows sum to 1 or 0
    decided: np.ndarray = field(init=False, repr=False)  # (V,) bool: the tags the pixels decide

    def __post_init__(self) -> None:
        index = tag_index(self.vocabulary)
        rows = (*COLOURS, *LOOKS)
        w = np.zeros((len(rows), len(self.vocabulary)), dtype=np.float32)
        for r, name in enumerate(rows):
            for tag, weight in COLOUR_TAGS[name].items():
                if tag in index:
                    w[r, index[tag]] = weight
        sums = w.sum(axis=1, keepdims=True)
        self.weights = np.divide(w, sums, out=np.zeros_like(w), where=sums > 0)
        self.decided = self.weights.any(axis=0)

    @property
    def active(self) -> bool:
        """Whether the vocabulary holds any colour tag at all."""
        return bool(self.decided.any())

    def p_colour(self, shares: np.ndarray) -> np.ndarray:
        """colour_shares' (N, colours + 1) -> how sure each colour and look is, (N, colours + looks)."""
        mid = np.full(len(COLOURS), self.share50, dtype=np.float32)
        mid[HUES + 1 :] += NEUTRAL_EXTRA
        p = gated_sigmoid(shares[:, : len(COLOURS)], mid, self.slope, mid - (self.share50 - SHARE_MIN))
        lo, hi = GREY_CHROMA
        grey = np.clip((hi - shares[:, -1]) / (hi - lo), 0.0, 1.0)
        colourful = (shares[:, :HUES] >= COLOURFUL_SHARE).sum(axis=1) >= COLOURFUL_HUES
        p = p * (1.0 - grey[:, None])  # a black-and-white photo is not #black and #white
        return np.concatenate([p, grey[:, None], colourful[:, None]], axis=1).astype(np.float32)

    def measure(self, batch: np.ndarray) -> np.ndarray:
        """uint8 NCHW photos -> (N, colours + looks) how sure each colour and look is, 0 where the
        vocabulary has no tag for it."""
        return self.p_colour(colour_shares(batch)) * self.weights.any(axis=1)[None, :]

    def move(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        """q (N, V) and `measure`'s p -> the model's guess for the colour tags dropped, and the colours
        measured moved in."""
        q = np.where(self.decided[None, :], 0.0, q)
        q = q / np.maximum(q.sum(axis=1, keepdims=True), 1e-12)
        seen = p @ self.weights
        total = seen.sum(axis=1, keepdims=True)
        target = np.divide(seen, total, out=np.zeros_like(seen), where=total > 0)
        moved = (self.share * p.max(axis=1, initial=0.0))[:, None]
        return ((1.0 - moved) * q + moved * target).astype(np.float32)

    def absent(self, p: np.ndarray) -> np.ndarray:
        """(N, V) bool: the colour tags each photo was measured not to show (its p is 0)."""
        return self.decided[None, :] & ((p @ self.weights) <= 0.0)

    def to_dict(self) -> dict[str, float]:
        """What an export stores to apply it the same way (`from_dict`)."""
        return {"share": self.share, "share50": self.share50, "slope": self.slope}

    @classmethod
    def from_dict(cls, d: Any, vocabulary: list[str]) -> ColourTags:
        return cls(vocabulary, *checked_settings(d, "colours", "share50"))

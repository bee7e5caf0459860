"""Styles beyond the ten genres: the musicnn MSD tagger's genre and style tags, read from the same network pass.

The default model's backbone is MSD_musicnn (Pons & Serra 2019), a tagger of the Million Song Dataset's 50
most frequent last.fm tags. Its output layer (``taggram``: one sigmoid score per tag and 3-s patch) sits on the
same network whose penultimate layer feeds the genre head, so the styles cost no second pass. Of the 50 tags,
:data:`STYLE_TAGS` keeps those that name a genre or style; moods (beautiful, mellow, chill, sad, happy, sexy,
catchy, party), eras (60s ... 00s, oldies), instruments and voices (guitar, acoustic, instrumental,
female/male vocalists) are left out.

A song's style scores are the tag scores averaged over the patches the answer read (:func:`styles_from_taggram`);
:data:`STYLE_THRESHOLD` and :data:`MAX_STYLES` decide which are reported. The scores are the tagger's own
(independent sigmoids, not a distribution over styles, not calibrated): read them as "how much it sounds
like what last.fm users tagged X".
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: The MSD tags (as spelled in :data:`genrelab.musicnn.info.MSD_LABELS`) that are genres or styles.
STYLE_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "dance", "alternative rock", "jazz", "metal", "chillout",
    "classic rock", "soul", "indie rock", "electronica", "folk", "punk", "blues", "hard rock", "ambient",
    "experimental", "Hip-Hop", "country", "easy listening", "funk", "electro", "heavy metal", "Progressive rock",
    "rnb", "indie pop", "House",
)
#: A style is reported when its mean tag score reaches this (MSD tag scores rarely pass 0.5: the tags are sparse).
STYLE_THRESHOLD = 0.1
#: At most this many styles, best first.
MAX_STYLES = 5


def style_name(tag: str) -> str:
    """The reported name of an MSD tag: lower case (``Hip-Hop`` -> ``hip-hop``)."""
    return tag.lower()


def styles_from_taggram(taggram: np.ndarray, tags: Sequence[str], threshold: float = STYLE_THRESHOLD,
                        max_styles: int = MAX_STYLES) -> list[tuple[str, float]]:
    """``[(style, score), ...]`` best first: the style tags whose score, averaged over the patches of
    ``taggram`` (``(n_patches, n_tags)`` or ``(n_tags,)``, in the order of ``tags``), reaches ``threshold``."""
    t = np.asarray(taggram, dtype=np.float64)
    mean = t.reshape(-1, t.shape[-1]).mean(axis=0) if t.size else np.zeros(len(tags))
    scored = [(style_name(tag), float(mean[i])) for i, tag in enumerate(tags) if tag in STYLE_TAGS]
    scored.sort(key=lambda s: -s[1])
    return [s for s in scored if s[1] >= threshold][:max_styles]


__all__ = ["STYLE_TAGS", "STYLE_THRESHOLD", "MAX_STYLES", "style_name", "styles_from_taggram"]

"""The synthetic catalogue: items in product lines with Zipf popularity, their stock codes,
descriptions and prices, then the non-product codes; and a Zipf draw of an item inside
a product line.

Used by :func:`session_recs.data.synthetic.generate_transactions` (the structure it
plants is described there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Five-digit stock numbers, as in the real file, one per item, up to FIVE_DIGIT_ITEMS;
# larger catalogues (``make-demo --items``) get seven-digit numbers.
FIVE_DIGIT_ITEMS = 89_998
MAX_ITEMS = 9_000_000
# Share of items whose stock code has a letter suffix ("85123A").
P_CODE_SUFFIX = 0.12

NON_PRODUCTS = pd.DataFrame(
    {
        "code": ["POST", "DOT", "M", "BANK CHARGES"],
        "description": ["POSTAGE", "DOTCOM POSTAGE", "Manual", "Bank Charges"],
        "price": [18.0, 120.0, 2.5, 15.0],
        "share": [0.45, 0.25, 0.25, 0.05],
    }
)
COLOURS = np.array(
    ["RED", "PINK", "BLUE", "GREEN", "IVORY", "BLACK", "WHITE", "VINTAGE", "PASTEL", "GOLD"]
)
PATTERNS = np.array(
    ["RETROSPOT", "POLKADOT", "PAISLEY", "SPACEBOY", "DOLLY GIRL", "REGENCY", "SKULLS", "HEART"]
)
NOUNS = np.array(
    [
        "MUG",
        "LUNCH BAG",
        "JUMBO BAG",
        "CAKE STAND",
        "T-LIGHT HOLDER",
        "NAPKINS",
        "PAPER CHAIN KIT",
        "CHARLOTTE BAG",
        "PARTY BUNTING",
        "LUNCH BOX",
        "TEA CUP AND SAUCER",
        "CAKE CASES",
        "WATER BOTTLE",
        "ALARM CLOCK",
        "DOORMAT",
        "CUSHION COVER",
        "PHOTO FRAME",
        "STORAGE TIN",
        "HANGING DECORATION",
        "GIFT WRAP",
        "PICNIC BASKET",
        "SHOPPER BAG",
        "CHILDRENS APRON",
        "MINI NOTEBOOK",
        "SIGN",
        "PLATE",
        "BOWL",
        "CANDLE",
        "TISSUES",
        "EGG CUP",
        "KEY RING",
        "PURSE",
    ]
)


@dataclass(frozen=True)
class Catalog:
    """Items 0..n_items-1 grouped by consecutive positions, then the non-product codes."""

    group_lo: np.ndarray  # group g holds items group_lo[g]:group_lo[g + 1]
    group_of_item: np.ndarray
    group_p: np.ndarray  # Zipf probability of each group
    cum_weight: np.ndarray  # inclusive cumsum of within-group Zipf weights, item order
    codes: pd.Series  # str, one per item then one per non-product code
    descriptions: pd.Series
    prices: np.ndarray


def _zipf(n: int, exponent: float) -> np.ndarray:
    """Unnormalised Zipf weights of ranks 1..n."""
    return np.arange(1, n + 1, dtype=np.float64) ** -exponent


def build_catalog(
    rng: np.random.Generator, n_items: int, n_groups: int, exponent: float
) -> Catalog:
    """Groups, popularity, stock codes, descriptions and prices of the items."""
    group_lo = (np.arange(n_groups + 1) * n_items) // n_groups
    group_of_item = np.repeat(np.arange(n_groups), np.diff(group_lo))
    position = np.arange(n_items) - group_lo[group_of_item]
    # Shuffle ranks within each group: lexsort keeps the group blocks where they are.
    order = np.lexsort((rng.random(n_items), group_of_item))
    rank = np.empty(n_items, dtype=np.int64)
    rank[order] = position
    cum_weight = np.cumsum((rank + 1.0) ** -exponent)
    group_p = _zipf(n_groups, exponent)[rng.permutation(n_groups)]
    group_p /= group_p.sum()

    if n_items <= FIVE_DIGIT_ITEMS:
        numbers = rng.choice(np.arange(10_002, 100_000), size=n_items, replace=False)
    else:
        numbers = 1_000_000 + rng.choice(MAX_ITEMS, size=n_items, replace=False)
    numbers = numbers.astype(str)
    letters = np.array(list("ABCDE"))[rng.integers(0, 5, n_items)]
    suffix = np.where(rng.random(n_items) < P_CODE_SUFFIX, letters, "")
    codes = np.char.add(numbers, suffix)

    # Distinct themes per group and distinct nouns within a group, while they last.
    themes = np.char.add(
        np.char.add(np.repeat(COLOURS, PATTERNS.size), " "), np.tile(PATTERNS, COLOURS.size)
    )
    theme = themes[rng.permutation(themes.size)[np.arange(n_groups) % themes.size]]
    noun = NOUNS[(rng.integers(0, NOUNS.size, n_groups)[group_of_item] + position) % NOUNS.size]
    descriptions = np.char.add(np.char.add(theme[group_of_item], " "), noun)

    # Prices in steps of 5p, like most of the real catalog.
    prices = np.maximum(np.round(rng.lognormal(np.log(2.5), 0.8, n_items) * 20) / 20, 0.1)
    return Catalog(
        group_lo=group_lo,
        group_of_item=group_of_item,
        group_p=group_p,
        cum_weight=cum_weight,
        codes=pd.Series(np.concatenate([codes, NON_PRODUCTS["code"]]), dtype="str"),
        descriptions=pd.Series(
            np.concatenate([descriptions, NON_PRODUCTS["description"]]), dtype="str"
        ),
        prices=np.concatenate([prices, NON_PRODUCTS["price"].to_numpy()]),
    )


def draw_in_groups(rng: np.random.Generator, groups: np.ndarray, catalog: Catalog) -> np.ndarray:
    """One Zipf draw of an item inside each given group (inverse CDF on the group's slice)."""
    lo, hi = catalog.group_lo[groups], catalog.group_lo[groups + 1]
    below = np.where(lo > 0, catalog.cum_weight[lo - 1], 0.0)
    target = below + rng.random(groups.size) * (catalog.cum_weight[hi - 1] - below)
    # Clip: rounding at a slice's edge must not leak into the neighbouring group.
    return np.clip(np.searchsorted(catalog.cum_weight, target, side="right"), lo, hi - 1)

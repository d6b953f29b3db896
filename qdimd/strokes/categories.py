"""The 345 Quick, Draw! categories and checks of user-given category names.

``CATEGORIES`` is the official list, in the order of ``categories.txt`` of
googlecreativelab/quickdraw-dataset (lower case except the three ``The ...``
names, so not sorted by code point). Every name is also a file name in the
``quickdraw_dataset`` bucket: ``full/simplified/<name>.ndjson`` and so on, spaces
included.
"""
from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

from ..errors import InputError

CATEGORIES: tuple[str, ...] = (
    "aircraft carrier", "airplane", "alarm clock", "ambulance", "angel", "animal migration", "ant", "anvil",
    "apple", "arm", "asparagus", "axe", "backpack", "banana", "bandage", "barn", "baseball", "baseball bat",
    "basket", "basketball", "bat", "bathtub", "beach", "bear", "beard", "bed", "bee", "belt", "bench",
    "bicycle", "binoculars", "bird", "birthday cake", "blackberry", "blueberry", "book", "boomerang",
    "bottlecap", "bowtie", "bracelet", "brain", "bread", "bridge", "broccoli", "broom", "bucket", "bulldozer",
    "bus", "bush", "butterfly", "cactus", "cake", "calculator", "calendar", "camel", "camera", "camouflage",
    "campfire", "candle", "cannon", "canoe", "car", "carrot", "castle", "cat", "ceiling fan", "cello",
    "cell phone", "chair", "chandelier", "church", "circle", "clarinet", "clock", "cloud", "coffee cup",
    "compass", "computer", "cookie", "cooler", "couch", "cow", "crab", "crayon", "crocodile", "crown",
    "cruise ship", "cup", "diamond", "dishwasher", "diving board", "dog", "dolphin", "donut", "door", "dragon",
    "dresser", "drill", "drums", "duck", "dumbbell", "ear", "elbow", "elephant", "envelope", "eraser", "eye",
    "eyeglasses", "face", "fan", "feather", "fence", "finger", "fire hydrant", "fireplace", "firetruck",
    "fish", "flamingo", "flashlight", "flip flops", "floor lamp", "flower", "flying saucer", "foot", "fork",
    "frog", "frying pan", "garden", "garden hose", "giraffe", "goatee", "golf club", "grapes", "grass",
    "guitar", "hamburger", "hammer", "hand", "harp", "hat", "headphones", "hedgehog", "helicopter", "helmet",
    "hexagon", "hockey puck", "hockey stick", "horse", "hospital", "hot air balloon", "hot dog", "hot tub",
    "hourglass", "house", "house plant", "hurricane", "ice cream", "jacket", "jail", "kangaroo", "key",
    "keyboard", "knee", "knife", "ladder", "lantern", "laptop", "leaf", "leg", "light bulb", "lighter",
    "lighthouse", "lightning", "line", "lion", "lipstick", "lobster", "lollipop", "mailbox", "map", "marker",
    "matches", "megaphone", "mermaid", "microphone", "microwave", "monkey", "moon", "mosquito", "motorbike",
    "mountain", "mouse", "moustache", "mouth", "mug", "mushroom", "nail", "necklace", "nose", "ocean",
    "octagon", "octopus", "onion", "oven", "owl", "paintbrush", "paint can", "palm tree", "panda", "pants",
    "paper clip", "parachute", "parrot", "passport", "peanut", "pear", "peas", "pencil", "penguin", "piano",
    "pickup truck", "picture frame", "pig", "pillow", "pineapple", "pizza", "pliers", "police car", "pond",
    "pool", "popsicle", "postcard", "potato", "power outlet", "purse", "rabbit", "raccoon", "radio", "rain",
    "rainbow", "rake", "remote control", "rhinoceros", "rifle", "river", "roller coaster", "rollerskates",
    "sailboat", "sandwich", "saw", "saxophone", "school bus", "scissors", "scorpion", "screwdriver",
    "sea turtle", "see saw", "shark", "sheep", "shoe", "shorts", "shovel", "sink", "skateboard", "skull",
    "skyscraper", "sleeping bag", "smiley face", "snail", "snake", "snorkel", "snowflake", "snowman",
    "soccer ball", "sock", "speedboat", "spider", "spoon", "spreadsheet", "square", "squiggle", "squirrel",
    "stairs", "star", "steak", "stereo", "stethoscope", "stitches", "stop sign", "stove", "strawberry",
    "streetlight", "string bean", "submarine", "suitcase", "sun", "swan", "sweater", "swing set", "sword",
    "syringe", "table", "teapot", "teddy-bear", "telephone", "television", "tennis racquet", "tent",
    "The Eiffel Tower", "The Great Wall of China", "The Mona Lisa", "tiger", "toaster", "toe", "toilet",
    "tooth", "toothbrush", "toothpaste", "tornado", "tractor", "traffic light", "train", "tree", "triangle",
    "trombone", "truck", "trumpet", "t-shirt", "umbrella", "underwear", "van", "vase", "violin",
    "washing machine", "watermelon", "waterslide", "whale", "wheel", "windmill", "wine bottle", "wine glass",
    "wristwatch", "yoga", "zebra", "zigzag",
)


def check_categories(names: Iterable[str], known: Collection[str] | None = None, *, where: str | None = None) -> list[str]:
    """Validate category names against the official list, or against the categories of some sources.

    Args:
        names: category names; surrounding whitespace is ignored, duplicates are
            dropped (first occurrence kept).
        known: the names that exist (e.g. the words found in a user's files, custom ones
            included); ``None`` = the official :data:`CATEGORIES`.
        where: what holds ``known``, for the message (e.g. ``"the sources"``).

    Returns:
        The names, stripped, in the given order without duplicates.

    Raises:
        InputError: an empty name list, or unknown names (each listed with its
            closest known names).
    """
    choices = list(CATEGORIES) if known is None else sorted(known)
    present = frozenset(choices)
    names = check_names(names)
    unknown = [name for name in names if name not in present]
    if unknown:
        plural = "y" if len(unknown) == 1 else "ies"
        head = f"unknown Quick, Draw! categor{plural}:" if known is None else f"categor{plural} not in {where or 'the sources'}:"
        lines = [head] + [f"  {name!r}{_hint(name, choices, known is not None)}" for name in unknown]
        if known is None:
            lines.append(f"The {len(CATEGORIES)} official names are listed by `qdimd download --list-categories`.")
        else:
            shown = ", ".join(repr(c) for c in choices[:12]) + (", ..." if len(choices) > 12 else "")
            lines.append(f"The {len(choices)} categor{'y' if len(choices) == 1 else 'ies'} in {where or 'the sources'}: {shown}")
        raise InputError("\n".join(lines))
    return names


def check_names(names: Iterable[str]) -> list[str]:
    """Category names stripped, without empty ones and duplicates (first kept), not yet looked up.

    Raises:
        InputError: no name left.
    """
    given = list(names)
    out: list[str] = []
    for raw in given:
        name = raw.strip()
        if name and name not in out:
            out.append(name)
    if not out:
        raise InputError(f"Expected at least one category name, got {given!r}")
    return out


def _hint(name: str, choices: list[str], custom: bool) -> str:
    """`` (did you mean ...?)`` with the closest of ``choices``, or an explanation, or nothing."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:  # case slips ("the mona lisa") and substrings ("tower")
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=3, cutoff=0.6)]
        close = close or [c for c in choices if name.lower() in c.lower()][:3]
    if close:
        return f" (did you mean {', '.join(repr(c) for c in close)}?)"
    if custom and name in CATEGORIES:
        return " (an official category, but these sources have no drawing of it)"
    return ""

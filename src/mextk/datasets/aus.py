"""Action units as the coding sheets write them, normalised for the manifest.

The sheets write AUs as ``12``, ``4+7``, ``R12``, ``L10+25``, ``R14A`` (side and
intensity), ``AU12``, ``12 + R15`` or ``4,7``; some SAMM rows hold two readings
(``R12 or R12+R15``); a side may also follow in brackets (``12(R)``).
:func:`normalise_aus` returns the manifest's ``aus`` (``AU4+AU7``: numbers only, in
the sheet's order, each once) and the detail the numbers drop: the side of each
lateralised AU (``au_sides``: ``AU12:R``) and the
intensity letter (``au_intensity``: ``AU14:A``).  Where a row gives
alternatives joined by ``or``, the first reading is kept (the coder's first
choice) and the sheet's text stays in ``au_raw``.  A token without a number
(``?``, ``(``) is dropped and named in the returned list of problems.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mextk.datasets.sheets import cell_text

_TOKEN = re.compile(r"^(?:AU)?\s*([LRBT])?\s*(\d+)\s*([A-E])?\s*(?:\(([LR])\))?$", re.IGNORECASE)
_SPLIT = re.compile(r"\s*[+,;&/]\s*|\s+and\s+|\s+")


@dataclass(frozen=True)
class ActionUnits:
    """Normalised action units of one sample.

    Attributes
    ----------
    aus : str
        ``AU4+AU7`` (``""`` when none).
    sides : str
        ``AU12:R+AU15:L`` for the lateralised ones (``L``, ``R``; ``B`` bilateral and ``T`` top are kept too).
    intensity : str
        ``AU14:A`` for the ones with an intensity letter.
    problems : list of str
        Tokens that are not action units.
    """

    aus: str
    sides: str = ""
    intensity: str = ""
    problems: list[str] = field(default_factory=list)


def normalise_aus(value: object) -> ActionUnits:
    """Normalise one sheet cell of action units.

    Examples
    --------
    >>> normalise_aus("R12 + L15")
    ActionUnits(aus='AU12+AU15', sides='AU12:R+AU15:L', intensity='', problems=[])
    >>> normalise_aus(12.0).aus, normalise_aus("4+7").aus, normalise_aus("R14A").intensity
    ('AU12', 'AU4+AU7', 'AU14:A')
    >>> normalise_aus("R12 or R12+R15").aus
    'AU12'
    """
    text = cell_text(value)
    first = re.split(r"\s+or\s+", text, flags=re.IGNORECASE)[0]
    aus: list[str] = []
    sides: list[str] = []
    intensity: list[str] = []
    problems: list[str] = []
    for token in _SPLIT.split(first.strip()):
        token = token.strip()
        m = _TOKEN.match(token) or _TOKEN.match(token.strip("()[]"))
        if not token.strip("()[]"):
            continue
        if not m:
            problems.append(token)
            continue
        side, number, level = m.group(1) or m.group(4), int(m.group(2)), m.group(3)
        name = f"AU{number}"
        if name in aus:
            continue
        aus.append(name)
        if side:
            sides.append(f"{name}:{side.upper()}")
        if level:
            intensity.append(f"{name}:{level.upper()}")
    return ActionUnits("+".join(aus), "+".join(sides), "+".join(intensity), problems)

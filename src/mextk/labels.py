"""Class taxonomies and label mappings.

Every dataset labels its samples in its own words (``Happiness``, ``happy``,
``No_Emotion``, ``repression``, ``others`` ...).  This module is the one place
where those words are turned into the classes of a *task*:

=========  ===================================================================
name       classes
=========  ===================================================================
cmed6      anger, disgust, fear, sadness, happiness, surprise (CMED Table II)
cmed7      the six above + no_me (CMED's full label set)
megc3      negative, positive, surprise (MEGC-2019 composite recognition)
spotting   me, no_me (micro-expression present or not)
dfme7      anger, contempt, disgust, fear, happiness, sadness, surprise
casme2     happiness, disgust, surprise, repression, others (CASME II, 5 class)
samm       anger, contempt, disgust, fear, happiness, sadness, surprise
=========  ===================================================================

Labels are normalised first (case-insensitive, aliases such as ``happy`` ->
``happiness``, ``No_Emotion``/``No-ME`` -> ``no_me``).  A normalised label then
falls into one of three cases for a task:

* it **maps** to a class of the task;
* it is a known label the task **excludes** (``others`` under ``cmed6``,
  ``no_me`` under ``megc3``, ``fear`` under ``casme2`` ...).  What happens is
  the caller's explicit choice, ``excluded="drop"`` (the default: the samples
  are removed *and counted in the returned report*) or ``excluded="error"``;
* it is **unknown** (a typo, an unsupported label): always an error.

Documented choices where the literature varies:

* ``megc3`` follows the MEGC-2019 composite set: negative = anger, disgust,
  fear, sadness, and also ``contempt`` (SAMM's contempt was counted as
  negative there).  MEGC-2019 also counted CASME II's ``repression`` as
  negative; that is *not* the default here (repression is excluded), because
  repression is a suppressed, not a negative, expression in CASME II's coding.
  Reproduce MEGC-2019 exactly with
  ``get_taxonomy("megc3").with_mapping({"repression": "negative"})``.
* ``spotting`` counts every labelled micro-expression, including ``others``,
  ``repression`` and ``tense``, as ``me``: they are movements, just not of a
  prototypical emotion.
* ``casme2`` uses the usual 5-class protocol: the 2 fear and 7 sadness clips of
  CASME II are excluded, not folded into ``others``.
* ``samm`` uses SAMM's 7 emotions; SAMM's ``others`` is excluded by default and
  can be kept as an eighth class with ``.with_mapping({"others": "others"})``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: Every label mextk understands, after normalisation.
VOCABULARY: frozenset[str] = frozenset(
    {
        "anger",
        "contempt",
        "disgust",
        "fear",
        "happiness",
        "sadness",
        "surprise",
        "repression",
        "tense",
        "amusement",
        "others",
        "positive",
        "negative",
        "me",
        "no_me",
    }
)

#: Aliases (already lower-cased, with ``-`` and spaces turned into ``_``).
ALIASES: dict[str, str] = {
    "angry": "anger",
    "contemptuous": "contempt",
    "disgusted": "disgust",
    "disgusting": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "happy": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
    "surprising": "surprise",
    "repressed": "repression",
    "other": "others",
    "pos": "positive",
    "neg": "negative",
    "no_emotion": "no_me",
    "noemotion": "no_me",
    "nome": "no_me",
    "no_micro_expression": "no_me",
    "non_me": "no_me",
    "micro_expression": "me",
    "microexpression": "me",
}

#: How labels are printed in tables.
DISPLAY: dict[str, str] = {
    "anger": "Anger",
    "contempt": "Contempt",
    "disgust": "Disgust",
    "fear": "Fear",
    "happiness": "Happiness",
    "sadness": "Sadness",
    "surprise": "Surprise",
    "repression": "Repression",
    "tense": "Tense",
    "amusement": "Amusement",
    "others": "Others",
    "positive": "Positive",
    "negative": "Negative",
    "me": "ME",
    "no_me": "No-ME",
}


class LabelError(ValueError):
    """A label that cannot be used for the chosen task."""


def normalize_label(label: object) -> str:
    """Return the canonical spelling of an emotion label.

    Parameters
    ----------
    label : object
        A label as a dataset writes it (``"Happy"``, ``"No_Emotion"``).

    Returns
    -------
    str
        One of :data:`VOCABULARY`.

    Raises
    ------
    LabelError
        For an empty or unknown label.

    Examples
    --------
    >>> normalize_label("No-ME"), normalize_label(" Happy "), normalize_label("OTHERS")
    ('no_me', 'happiness', 'others')
    """
    if label is None or (isinstance(label, float) and np.isnan(label)):
        raise LabelError("empty emotion label")
    text = str(label).strip().lower()
    if not text:
        raise LabelError("empty emotion label")
    key = re.sub(r"[\s\-]+", "_", text)
    key = ALIASES.get(key, key)
    if key not in VOCABULARY:
        raise LabelError(f"unknown emotion label {label!r} (known: {', '.join(sorted(VOCABULARY))})")
    return key


def label_key(label: object) -> str:
    """The one spelling under which a label is counted, wherever it is read.

    Labels that differ only in case, surrounding space or spelling variant are one class: a known
    label becomes its canonical name (:func:`normalize_label`: ``" Others"`` and ``"others"`` are
    both ``others``); an unknown one is stripped, its inner runs of space made one, and
    case-folded, so that it is still counted once and reported in one spelling.  An empty value
    stays ``""`` (an unlabelled row).  Manifests (:func:`mextk.io.manifest.coerce_manifest`),
    dataset sheets, prediction files and the labelling app's imports all go through here.

    Examples
    --------
    >>> label_key("Others"), label_key(" others "), label_key("Happy"), label_key("Big  Smile "), label_key(None)
    ('others', 'others', 'happiness', 'big smile', '')
    """
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return ""
    text = " ".join(str(label).split())
    if not text:
        return ""
    try:
        return normalize_label(text)
    except LabelError:
        return text.casefold()


@dataclass(frozen=True)
class LabelEncoding:
    """The result of mapping a column of labels to a task's classes.

    Attributes
    ----------
    y : numpy.ndarray
        ``int64`` class indices of the kept samples.
    keep : numpy.ndarray
        Boolean mask over the input: ``True`` where the sample was kept.
    classes : tuple of str
        The task's classes; ``y`` indexes into it.
    dropped : dict
        ``{normalised label: count}`` of the samples removed as excluded.
    """

    y: np.ndarray
    keep: np.ndarray
    classes: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)

    def describe_dropped(self) -> str:
        """One line saying what was dropped, or ``""`` when nothing was."""
        if not self.dropped:
            return ""
        parts = ", ".join(f"{k} ({v})" for k, v in sorted(self.dropped.items()))
        return f"dropped {sum(self.dropped.values())} samples whose labels the task excludes: {parts}"


@dataclass(frozen=True)
class Taxonomy:
    """A named set of classes and the mapping of canonical labels onto them.

    Parameters
    ----------
    name : str
        Name used on the command line (``--task``).
    classes : tuple of str
        Class names in a fixed order; a class's index is its integer label.
    mapping : Mapping[str, str]
        Canonical label -> class.  Canonical labels not in the mapping are
        *excluded* by this task.
    description : str
        One line for ``--help`` and reports.
    """

    name: str
    classes: tuple[str, ...]
    mapping: Mapping[str, str]
    description: str = ""

    def __post_init__(self) -> None:
        bad = [c for c in self.mapping.values() if c not in self.classes]
        if bad:
            raise ValueError(f"taxonomy {self.name}: mapping targets {bad} are not classes")
        unknown = [k for k in self.mapping if k not in VOCABULARY]
        if unknown:
            raise ValueError(f"taxonomy {self.name}: mapping sources {unknown} are not known labels")

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def display(self, cls: str) -> str:
        """Printable name of a class (``no_me`` -> ``No-ME``)."""
        return DISPLAY.get(cls, cls)

    def map(self, label: object) -> str | None:
        """Map one label to a class name, or ``None`` if the task excludes it.

        Raises
        ------
        LabelError
            For an unknown label.
        """
        return self.mapping.get(normalize_label(label))

    def index(self, cls: str) -> int:
        """Integer label of a class name."""
        try:
            return self.classes.index(cls)
        except ValueError:
            raise LabelError(f"{cls!r} is not a class of task {self.name} {self.classes}") from None

    def encode(self, labels: Iterable[object], *, excluded: str = "drop") -> LabelEncoding:
        """Map a sequence of labels to class indices.

        Parameters
        ----------
        labels : iterable
            Raw labels, one per sample.
        excluded : {"drop", "error"}
            What to do with known labels this task leaves out (see module doc).
            Dropped samples are counted in :attr:`LabelEncoding.dropped`.

        Returns
        -------
        LabelEncoding

        Raises
        ------
        LabelError
            Naming the position of the first unknown label (or excluded label
            with ``excluded="error"``).

        Examples
        --------
        >>> enc = get_taxonomy("megc3").encode(["Happy", "anger", "No_Emotion", "surprise"])
        >>> enc.y.tolist(), enc.keep.tolist(), enc.dropped
        ([1, 0, 2], [True, True, False, True], {'no_me': 1})
        """
        if excluded not in ("drop", "error"):
            raise ValueError(f"excluded must be 'drop' or 'error', got {excluded!r}")
        ys: list[int] = []
        keep: list[bool] = []
        dropped: Counter[str] = Counter()
        for i, label in enumerate(labels):
            try:
                canon = normalize_label(label)
            except LabelError as exc:
                raise LabelError(f"sample {i}: {exc}") from None
            cls = self.mapping.get(canon)
            if cls is None:
                if excluded == "error":
                    raise LabelError(
                        f"sample {i}: label {label!r} ({canon}) is excluded by task {self.name}; "
                        f"classes are {', '.join(self.classes)}"
                    )
                dropped[canon] += 1
                keep.append(False)
                continue
            ys.append(self.classes.index(cls))
            keep.append(True)
        return LabelEncoding(np.asarray(ys, dtype=np.int64), np.asarray(keep, dtype=bool), self.classes, dict(dropped))

    def with_mapping(self, extra: Mapping[str, str], *, name: str | None = None) -> Taxonomy:
        """Return a copy with extra ``label -> class`` entries; new classes are appended.

        Examples
        --------
        >>> t = get_taxonomy("samm").with_mapping({"others": "others"})
        >>> t.classes[-1], t.map("Other")
        ('others', 'others')
        """
        extra = {normalize_label(k): str(v) for k, v in extra.items()}
        classes = list(self.classes)
        for cls in extra.values():
            if cls not in classes:
                classes.append(cls)
        return Taxonomy(
            name or self.name,
            tuple(classes),
            {**self.mapping, **extra},
            self.description + f" (+ {extra})",
        )


_EMOTIONS6 = ("anger", "disgust", "fear", "sadness", "happiness", "surprise")
_IDENTITY6 = {e: e for e in _EMOTIONS6}
_SAMM7 = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")

TAXONOMIES: dict[str, Taxonomy] = {}


def register_taxonomy(taxonomy: Taxonomy) -> Taxonomy:
    """Add a taxonomy to :data:`TAXONOMIES`; a duplicate name is an error."""
    if taxonomy.name in TAXONOMIES:
        raise ValueError(f"taxonomy {taxonomy.name!r} is already registered")
    TAXONOMIES[taxonomy.name] = taxonomy
    return taxonomy


register_taxonomy(Taxonomy("cmed6", _EMOTIONS6, _IDENTITY6, "CMED's 6 emotion classes (No-ME excluded)"))
register_taxonomy(
    Taxonomy(
        "cmed7",
        (*_EMOTIONS6, "no_me"),
        {**_IDENTITY6, "no_me": "no_me"},
        "CMED's 6 emotion classes and No-ME",
    )
)
register_taxonomy(
    Taxonomy(
        "megc3",
        ("negative", "positive", "surprise"),
        {
            "anger": "negative",
            "disgust": "negative",
            "fear": "negative",
            "sadness": "negative",
            "contempt": "negative",
            "negative": "negative",
            "happiness": "positive",
            "amusement": "positive",
            "positive": "positive",
            "surprise": "surprise",
        },
        "MEGC-2019 3 classes: negative, positive, surprise",
    )
)
register_taxonomy(
    Taxonomy(
        "spotting",
        ("me", "no_me"),
        {
            **{e: "me" for e in VOCABULARY if e != "no_me"},
            "no_me": "no_me",
        },
        "micro-expression present (any emotion) vs No-ME",
    )
)
register_taxonomy(Taxonomy("dfme7", _SAMM7, {e: e for e in _SAMM7}, "DFME's 7 emotions (with contempt)"))
register_taxonomy(
    Taxonomy(
        "casme2",
        ("happiness", "disgust", "surprise", "repression", "others"),
        {
            "happiness": "happiness",
            "disgust": "disgust",
            "surprise": "surprise",
            "repression": "repression",
            "others": "others",
        },
        "CASME II 5 classes (fear and sadness excluded)",
    )
)
register_taxonomy(Taxonomy("samm", _SAMM7, {e: e for e in _SAMM7}, "SAMM's 7 emotions (others excluded)"))


def get_taxonomy(task: str | Taxonomy) -> Taxonomy:
    """Look up a taxonomy by name (or pass one through).

    Raises
    ------
    LabelError
        Listing the known names when ``task`` is unknown.
    """
    if isinstance(task, Taxonomy):
        return task
    try:
        return TAXONOMIES[str(task).lower()]
    except KeyError:
        raise LabelError(f"unknown task {task!r}; choose one of {', '.join(TAXONOMIES)}") from None

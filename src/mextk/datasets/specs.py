"""What mextk knows of each public dataset's release: its sheets, columns, folder layout and frame rate.

:data:`DATASETS` holds one :class:`DatasetSpec` per dataset; :mod:`mextk.datasets.official` imports a
dataset with it, and ``mextk datasets list`` prints it (:func:`describe_datasets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: Columns a loader adds after the standard ones.
EXTRA_COLUMNS = ("filename", "au_raw", "au_sides", "au_intensity", "objective_class", "split")

#: The column names each field goes by in the official sheets (a dataset's spec adds its own).
COMMON_COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("Subject", "sub", "subject_id"),
    "filename": ("Filename", "File name", "material", "fold_name"),
    "onset": ("OnsetFrame", "Onset Frame", "Onset", "OnsetF"),
    "apex": ("ApexFrame", "Apex Frame", "Apex", "ApexF1", "ApexF"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset", "OffsetF"),
    "emotion": ("Estimated Emotion", "Emotion", "emotion"),
    "aus": ("Action Units", "AU", "AUs", "Action Unit"),
    "objective_class": ("Objective Classes", "Objective Class", "Objective class"),
    "fps": ("Fps", "FPS", "frame rate"),
}


@dataclass(frozen=True)
class DatasetSpec:
    """What mextk knows of one public dataset's release.

    Attributes
    ----------
    name, title : str
        Name on the command line (``casme2``) and in print (``CASME II``).
    fps : float or None
        Frame rate; ``None`` when the sheet gives it per sample (DFME's ``Fps``).
    sheets : tuple of str
        File names of the official coding sheet(s), looked for in ``ROOT`` and one level below.
        Empty for a dataset labelled by its folders (SMIC).
    sheet_tab : str or None
        The worksheet holding the codes (others are ignored).
    layouts : tuple of str
        Candidate folder patterns relative to ``ROOT``, tried in order for each row;
        fields ``{subject}``, ``{filename}``, ``{emotion}``, ``{onset}`` (the sheet's frame
        number), ``{split}``.
    frames : str
        How the frame files are named (for ``mextk datasets list``).
    subject_width : int
        Digits of a numeric subject id (a sheet's ``1`` is CASME II's ``01``).
    sample_id : str
        Pattern of the sample id (same fields as ``layouts``).
    splits : mapping
        Sheet file name (lower case, a part of it) -> value of the ``split`` column.
    source : str
        Where the facts come from.
    """

    name: str
    title: str
    fps: float | None
    sheets: tuple[str, ...]
    sheet_tab: str | None
    layouts: tuple[str, ...]
    frames: str
    subject_width: int = 0
    sample_id: str = "{subject}/{filename}"
    splits: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    note: str = ""


def _smic(name: str, camera: str, fps: float, clips: str) -> DatasetSpec:
    """SMIC's three cameras share one layout (labels come from the folders), cropped or raw."""
    tail = "{subject}/micro/{emotion}/{filename}"
    return DatasetSpec(
        name=name,
        title=f"SMIC-{camera}",
        fps=fps,
        sheets=(),
        sheet_tab=None,
        layouts=(f"SMIC_all_cropped/{camera}/{tail}", f"SMIC_all_raw/{camera}/{tail}", f"{camera}/{tail}", tail),
        frames="reg_00001.bmp or image0001.bmp (labels come from the folders)",
        source=f"Li et al., SMIC, FG 2013; {clips}",
    )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="casme2",
            title="CASME II",
            fps=200.0,
            sheets=("CASME2-coding-20140508.xlsx",),
            sheet_tab="Sheet1",
            layouts=(
                "CASME2_RAW_selected/sub{subject}/{filename}",
                "sub{subject}/{filename}",
                "CASME2_RAW/sub{subject}/{filename}",
                "Cropped/sub{subject}/{filename}",
            ),
            frames="img46.jpg (the sheet's frame numbers)",
            subject_width=2,
            source="Yan et al., CASME II, PLoS ONE 9(1) 2014; CASME2-coding-20140508.xlsx (255 rows, 26 subjects)",
        ),
        DatasetSpec(
            name="samm",
            title="SAMM",
            fps=200.0,
            sheets=("SAMM_Micro_FACS_Codes_v2.xlsx",),
            sheet_tab="MICRO_ONLY",
            layouts=("SAMM/{subject}/{filename}", "{subject}/{filename}"),
            frames="006_05562.jpg (the last number is the sheet's frame number)",
            subject_width=3,
            source="Davison et al., SAMM, IEEE TAC 9(1) 2018; SAMM_Micro_FACS_Codes_v2.xlsx, MICRO_ONLY (159 rows)",
        ),
        _smic("smic", "HS", 100.0, "164 HS clips of 16 subjects (negative 70, positive 51, surprise 43)"),
        _smic("smic-vis", "VIS", 25.0, "VIS: 71 clips of 8 subjects"),
        _smic("smic-nir", "NIR", 25.0, "NIR: 71 clips of 8 subjects"),
        DatasetSpec(
            name="casme3",
            title="CAS(ME)^3 Part A",
            fps=30.0,
            sheets=("CAS(ME)3_part_A_ME_label_JpgIndex_v2.xlsx", "CAS(ME)^3_part_A_ME_label.xlsx", "label.xlsx"),
            sheet_tab="label",
            layouts=(
                "{subject}/{filename}/color",
                "part_A/data/part_A/{subject}/{filename}/color",
                "Part_A_ME_clip/frame/{subject}_{filename}_{onset}",
                "frame/{subject}_{filename}_{onset}",
            ),
            frames="355.jpg (the sheet's frame numbers; raw folders hold the whole video)",
            sample_id="{subject}/{filename}_{onset}",
            source="Li et al., CAS(ME)^3, IEEE TPAMI 45(3) 2023; Part A label sheet (860 rows, 94 subjects)",
            note="one video holds several MEs, so the sample id carries the onset frame",
        ),
        DatasetSpec(
            name="dfme",
            title="DFME",
            fps=None,
            sheets=("training_full_with_AU.xlsx", "testA_full_with_AU.xlsx", "testB_full_with_AU.xlsx"),
            sheet_tab=None,
            layouts=("{filename}", "{split}/{filename}", "{subject}/{filename}"),
            frames="one folder of frames per Filename (the sheet's frame numbers); Fps per sample",
            splits={"training": "train", "train": "train", "testa": "testA", "testb": "testB"},
            source=(
                "Zhao et al., DFME, arXiv:2301.00985; train 1856 rows (176 subjects), test A 474 (42), test B 299 (41)"
            ),
        ),
        DatasetSpec(
            name="mmew",
            title="MMEW",
            fps=90.0,
            sheets=("MMEW_Micro_Exp.xlsx",),
            sheet_tab=None,
            layouts=("Micro_Expression/{emotion}/{filename}", "{emotion}/{filename}"),
            frames="1.jpg ... (the sheet's frame numbers)",
            source="Ben et al., MMEW, IEEE TPAMI 44(9) 2022; 300 micro-expressions of 36 subjects",
        ),
    )
}

#: Names accepted on the command line for the same dataset.
ALIASES = {"casmeii": "casme2", "smic-hs": "smic", "cas(me)3": "casme3", "casme^3": "casme3"}


def get_dataset(name: str) -> DatasetSpec:
    """The spec of a dataset by name (``casme2``, ``samm``, ``smic``, ``smic-vis``, ``smic-nir``, ``casme3``, ...)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join([*DATASETS, 'cmed'])}")
    return DATASETS[key]


def describe_datasets() -> list[dict[str, str]]:
    """One row per supported dataset: name, title, fps, sheet, layout, frames (for ``mextk datasets list``)."""
    rows = []
    for spec in DATASETS.values():
        rows.append(
            {
                "name": spec.name,
                "title": spec.title,
                "fps": "per-sample (Fps column)" if spec.fps is None else f"{spec.fps:g}",
                "sheet": ", ".join(spec.sheets) + (f" [{spec.sheet_tab}]" if spec.sheet_tab else "")
                if spec.sheets
                else "none: labels from the folders",
                "layout": spec.layouts[0]
                + (f" (also tried: {', '.join(spec.layouts[1:])})" if len(spec.layouts) > 1 else ""),
                "frames": spec.frames,
            }
        )
    rows.append(
        {
            "name": "cmed",
            "title": "CMED",
            "fps": "25",
            "sheet": "video_emotion_metadata.csv",
            "layout": "FinalFullVideos_subjects/{emotion}/{subject}/{filename}",
            "frames": "one video per clip, onset..offset",
        }
    )
    return rows

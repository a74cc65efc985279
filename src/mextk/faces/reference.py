"""The reference face: 68 iBUG landmarks of one frontal face, and the left-right pairing of the scheme.

The face is the astronaut photograph that ships with scikit-image (``skimage.data.astronaut()``,
Eileen Collins, public domain; 512x512).  Its landmarks were placed once with dlib's
ensemble-of-regression-trees predictor (``shape_predictor_68_face_landmarks.dat`` from
``face-recognition-models``) and are stored here.  Alignment's symmetric reference shape
(:func:`mextk.faces.align.reference_shape`) and the synthetic faces (:mod:`mextk.synth.face`)
are both made from it.
"""

from __future__ import annotations

import numpy as np

#: 68 iBUG landmarks (x, y) of ``skimage.data.astronaut()`` (512x512), placed by dlib's predictor.
ASTRONAUT_LANDMARKS = np.array(
    [
        [179, 104],
        [180, 116],
        [181, 127],
        [182, 139],
        [185, 150],
        [191, 160],
        [200, 168],
        [209, 176],
        [220, 178],
        [232, 177],
        [243, 171],
        [253, 163],
        [260, 154],
        [265, 143],
        [268, 131],
        [270, 120],
        [272, 108],
        [186, 94],
        [192, 88],
        [200, 87],
        [208, 89],
        [216, 92],
        [236, 93],
        [244, 91],
        [252, 91],
        [260, 92],
        [265, 99],
        [226, 102],
        [225, 111],
        [225, 119],
        [225, 127],
        [214, 131],
        [219, 133],
        [224, 134],
        [229, 133],
        [234, 132],
        [195, 101],
        [200, 98],
        [207, 98],
        [212, 104],
        [206, 104],
        [199, 104],
        [237, 106],
        [243, 100],
        [250, 100],
        [255, 105],
        [250, 107],
        [244, 107],
        [201, 139],
        [209, 139],
        [218, 139],
        [224, 141],
        [230, 140],
        [238, 140],
        [246, 141],
        [238, 151],
        [229, 155],
        [222, 156],
        [216, 155],
        [208, 150],
        [204, 141],
        [218, 143],
        [223, 144],
        [230, 143],
        [243, 142],
        [229, 150],
        [223, 151],
        [217, 150],
    ],
    dtype=np.float64,
)

#: Index of each landmark's mirror partner (iBUG 68-point scheme).
MIRROR = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    + [26, 25, 24, 23, 22, 21, 20, 19, 18, 17]
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)

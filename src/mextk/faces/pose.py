"""How far a face is turned from the camera (yaw), from its 2D landmarks.

Frontal face tools (dlib's HOG detector, the eye-corner alignment of :mod:`mextk.spotting.motion`, and a
spotter's regions) assume a face that looks at the camera.  Beyond about 30 degrees of yaw the far half of the
face is foreshortened by more than cos 30 = 0.87 and starts to hide behind the nose, so movements there are
under-measured: a report should count such time as weak.

The yaw is read from one cue that needs no camera model: the nose base (dlib's point 33, the 5-point model's
last point) sits in front of the eye corners, so a turn moves it sideways against the eyes' midpoint by the
depth times the sine of the angle, while the distance between the eyes shrinks with its cosine.  On the mean
face of OpenFace's 68-point 3D model (Baltrusaitis et al., used by dlib-based head-pose code) the nose base is
:data:`NOSE_DEPTH` eye distances in front of the eye centres (28.7 mm against 65.1 mm), so under an orthographic
camera ``offset / eye distance = NOSE_DEPTH * tan(yaw)``.  The roll (the eyes' tilt in the image) is taken out
first.  A person's own nose depth differs from the mean by some 15% (a child's is shallower), which moves a
30 degree reading by about 4 degrees; pitch moves the nose base vertically and does not enter.
"""

from __future__ import annotations

import math

import numpy as np

#: Depth of the nose base in front of the eye centres, in eye distances, on OpenFace's mean 3D face (see above).
NOSE_DEPTH = 0.441
#: Yaw (degrees) from which a face counts as turned away (see the module docstring).
TURNED_DEG = 30.0


def head_yaw(landmarks: np.ndarray) -> float:
    """The face's yaw in degrees (0: facing the camera; the sign is the image side the nose moved to).

    Parameters
    ----------
    landmarks : numpy.ndarray
        ``(68, 2)`` dlib points, or ``(5, 2)`` in the order of :data:`mextk.faces.landmarks.FIVE_IN_68`.

    Returns
    -------
    float
        Degrees in (-90, 90); ``nan`` where the eyes coincide.
    """
    p = np.asarray(landmarks, dtype=np.float64)
    if len(p) == 5:
        left, right, nose = p[[2, 3]].mean(axis=0), p[[0, 1]].mean(axis=0), p[4]
    elif len(p) == 68:
        left, right, nose = p[[36, 39]].mean(axis=0), p[[42, 45]].mean(axis=0), p[33]
    else:
        raise ValueError(f"expected dlib's 68 or 5 landmarks, got {len(p)} points")
    axis = right - left
    dist = float(np.hypot(*axis))
    if dist < 1e-9:
        return float("nan")
    # the nose's offset from the eyes' midpoint along the eye line (the roll taken out), in eye distances
    offset = float(np.dot(nose - 0.5 * (left + right), axis / dist)) / dist
    return math.degrees(math.atan(offset / NOSE_DEPTH))

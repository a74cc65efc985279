"""Interval spotting: finding when expressions happen in long videos (MEGC's spotting task).

mextk names two tasks that the literature calls "spotting":

* **clip-level ME vs No-ME** (CMED's task): each clip is classified as holding a
  micro-expression or not.  It is a recognition task on clips, chosen with
  ``mextk evaluate --task spotting`` (the ``spotting`` taxonomy of :mod:`mextk.labels`).
* **interval spotting** (MEGC's task, this package): in a long video, find the
  intervals (onset, offset) of every micro- and macro-expression.  ``mextk spot``
  runs a spotter over a long-video manifest (:mod:`mextk.spotting.long_manifest`) and
  ``mextk spot-eval`` scores it the way MEGC does (:mod:`mextk.spotting.scoring`).
"""

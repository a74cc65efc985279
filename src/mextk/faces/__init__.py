"""Faces: landmarks, alignment, cropping."""

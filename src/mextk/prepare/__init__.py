"""Split group video-call recordings into per-person face clips (CMED Algorithm 1 and a better default)."""

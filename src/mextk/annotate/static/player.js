// mextk annotate: the player (keyboard-driven, frame-exact); filled in by the next step of issue 13

"""Optuna studies over `genre`'s nets and baselines. Imports `genre`; `genre` never imports it."""

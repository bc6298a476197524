"""Actors: thin wrappers that call one service each."""

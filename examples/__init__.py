"""Example user models for the atlas (load one with ``--model examples.two_stream:build``)."""

"""The ``prism-secure`` command-line interface."""

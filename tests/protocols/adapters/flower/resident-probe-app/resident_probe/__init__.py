"""The resident-ClientApp probe: see ``tests/protocols/adapters/flower/test_resident_apps.py``."""

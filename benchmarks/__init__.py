"""Benchmarks behind `python manage.py bench <name>`: each prints its figures and,
last, one JSON object."""

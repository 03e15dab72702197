"""Reusable fakes for tests: real servers on loopback whose behaviour a test controls."""

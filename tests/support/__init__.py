"""Test support: a real Redis, a real server on loopback, real worker processes."""

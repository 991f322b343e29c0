"""Testing tools: contract tester, reference implementation venv, shared fixtures."""

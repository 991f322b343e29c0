"""Contract testing of a deployed model: ``wharf test`` / ``seldon-core-tester`` and
``seldon-core-api-tester``.

``core`` is the ``contract.json`` data contract as pure functions (validation, random requests,
response checks); ``tester`` is the command that sends those requests to a component or to a
deployment's external API. Product code: model images carry it, unlike ``wharf.testing``, which is
the project's own test harness.
"""

"""Wharf's prepackaged model servers: classes with upstream's names and parameters.

A SeldonDeployment node with ``implementation: SKLEARN_SERVER`` (and a ``modelUri``) runs one of
these in Wharf's server image: the component server loads the class by its dotted name, exactly as
it loads a user's model class, and the operator passes ``model_uri=/mnt/models``, where the storage
initializer copied the model's files. Nothing here is specific to Kubernetes: ``wharf run`` and
``seldon-core-microservice wharf.servers.sklearn.SKLearnServer`` serve the same class.
"""

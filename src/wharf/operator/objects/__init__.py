"""The builders ``render()`` composes, one module per kind of object it emits.

- ``context``: the defaulted SeldonDeployment and the operator settings every builder reads.
- ``meta``: labels and metadata shared by all objects (owner references, managed-by).
- ``pods``: what every container and pod the operator writes gets (env, probes, security defaults).
- ``units``: a graph node's container (ports, probes, env) and the prepackaged servers' setup;
  ``storage``: the storage initializer; ``tfserving``: TF Serving beside or as the node's container.
- ``engine``: the orchestrator container, and where it runs (beside a node, in its own Deployment).
- ``deployments``: one Deployment per componentSpec; ``services``: the per-node and predictor
  Services; ``autoscaling``: HPA, PDB and replicas; ``ingress``: Ambassador Mappings, Istio
  VirtualService and DestinationRules; ``predictors``: all objects of one predictor.

All are pure functions over plain dicts: no I/O, no cluster.
"""

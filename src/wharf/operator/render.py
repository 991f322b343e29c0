"""``render(sdep, config) -> [objects]``: the Kubernetes objects upstream's operator creates.

Pure: plain dicts in, plain dicts out, no cluster. The SeldonDeployment is validated, defaulted, its
prepackaged servers set up, then parsed once into the typed model (``deployment.model``) every builder
reads. The operator server-side-applies the result;
``wharf render`` prints it for a GitOps repository. Owner references are added only when the
SeldonDeployment has a ``metadata.uid`` (i.e. it came from a cluster).
"""

from __future__ import annotations

from typing import Any

from wharf.deployment.defaults import apply_defaults
from wharf.deployment.kube import without_nulls
from wharf.deployment.model import parse
from wharf.deployment.validate import check
from wharf.operator.config import OperatorConfig
from wharf.operator.objects.context import Context, defaults_config
from wharf.operator.objects.engine import ENGINE_CONTAINER
from wharf.operator.objects.ingress import istio_objects
from wharf.operator.objects.meta import LABEL_ID
from wharf.operator.objects.pods import RESTRICTED_CONTAINER
from wharf.operator.objects.predictors import predictor_objects
from wharf.operator.objects.units import prepare_prepackaged

__all__ = ["ENGINE_CONTAINER", "LABEL_ID", "RESTRICTED_CONTAINER", "render"]


def render(sdep: dict[str, Any], config: OperatorConfig | None = None) -> list[dict[str, Any]]:
    """Every object for one SeldonDeployment; raises SdepError naming the field when it cannot.

    In this order: every predictor's Deployments, then every predictor's Services,
    then HPAs and PDBs, then Istio's VirtualService and DestinationRules.
    """
    config = config or OperatorConfig()
    sdep = without_nulls(sdep)  # as the API server prunes them: a null field is an absent one
    check(sdep, dict(config.predictor_servers))
    defaulted = apply_defaults(sdep, defaults_config(config))
    # the parameters and env a prepackaged server's setup adds are part of ENGINE_PREDICTOR, which is
    # built from the predictor: they are set before the model every builder reads is parsed
    prepare_prepackaged(defaulted)
    ctx = Context.of(parse(defaulted), config)
    parts = [predictor_objects(ctx, predictor) for predictor in ctx.model.predictors]
    istio = istio_objects(ctx) if config.istio_enabled else []
    return [
        *(d for part in parts for d in part.deployments),
        *(s for part in parts for s in part.services),
        *(o for part in parts for o in part.scaling),
        *istio,
    ]

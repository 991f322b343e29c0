"""``seldon_core.flask_utils.SeldonMicroserviceException``, served by Wharf.

Same constructor as upstream: ``(message, status_code=400, payload=None, reason="MICROSERVICE_BAD_DATA")``.
"""

from wharf.protocol.errors import MicroserviceError as SeldonMicroserviceException

__all__ = ["SeldonMicroserviceException"]

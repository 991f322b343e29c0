"""The benchmark's identity model as an MLServer runtime: each input decoded to numpy and sent back
as an output of the same name, the work Wharf's IdentityModel does behind its V2 API."""

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class IdentityModel(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        outputs = [NumpyCodec.encode_output(inp.name, NumpyCodec.decode_input(inp)) for inp in payload.inputs]
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=outputs)

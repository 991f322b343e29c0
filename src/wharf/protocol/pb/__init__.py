"""Generated protobuf and gRPC stubs (``invoke proto``). Do not edit the ``*_pb2*.py`` files."""

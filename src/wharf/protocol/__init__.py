"""Seldon v1 wire formats: SeldonMessage codecs for JSON and protobuf, error payloads.

Pure data in, data out: nothing here knows about sockets, servers or user classes.
"""

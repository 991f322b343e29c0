"""The SeldonDeployment resource as plain data: typed graph, defaults, validation. Pure."""

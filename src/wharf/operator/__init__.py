"""The Wharf operator: pure ``render()`` of a SeldonDeployment, and thin kopf handlers that apply it."""

"""GitOps support: what Argo CD needs to manage SeldonDeployments (health checks, config patches)."""

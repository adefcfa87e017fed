"""Deployment and the local stand-ins for `sam local invoke` / `sam local start-api` (no Docker)."""

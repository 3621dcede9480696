"""Inbound sign-in over HTTP with Entra ID (DESKTOP_FLOWS_HTTP_AUTH=entra): each caller proves who they are.

    keys.py       the tenant's signing keys (JWKS) over httpx: cached, refetched once on an unknown kid, rate-limited
    verifier.py   the SDK's TokenVerifier for Entra access tokens: what is checked, and the AccessToken handed on
    resource.py   the resource server: AuthSettings, the RFC 9728 metadata, EntraGate (metadata, 503 on a keys outage)
    outage.py     the per-request note of a keys outage, from the verifier to the gate
    scopes.py     which tools each scope sees and may call

Only imported with ``entra``; the shared-token mode stays in ``streamable_http``.
"""

"""Sign-in prompts shown through the MCP client (URL-mode elicitation) instead of only in an error.

Only a local stdio server for one person lends a presenter (``build_server(offer_sign_in_prompts=True)``, which
the CLI sets for stdio), and only to a client that says it shows URLs; a shared HTTP deployment never does, since
the person answering might not be the one whose sign-in it is. The error with the URL and code stays the fallback.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from ..signin.prompts import SignInPresenter, SignInPrompt


class UrlElicitationPresenter:
    def __init__(self, ctx: Context[Any]) -> None:
        self._ctx = ctx

    async def offer(self, prompt: SignInPrompt) -> bool:
        if prompt.url is None:
            return False
        result = await self._ctx.elicit_url(prompt.message, prompt.url, prompt.elicitation_id)
        return result.action == "accept"

    async def finished(self, prompt: SignInPrompt) -> None:
        await self._ctx.request_context.session.send_elicit_complete(
            prompt.elicitation_id, related_request_id=self._ctx.request_id
        )


def presenter_for(ctx: Context[Any], *, enabled: bool) -> SignInPresenter | None:
    """A presenter only when enabled, the client shows URLs, and the call did not come over HTTP.

    The last check holds even if a server built with ``offer_sign_in_prompts=True`` is served over HTTP: the
    transport attaches its HTTP request to the call there, and never on stdio.
    """
    if not enabled or ctx.request_context.request is not None:
        return None
    capabilities = ctx.client_capabilities
    shows_urls = bool(capabilities and capabilities.elicitation and capabilities.elicitation.url is not None)
    return UrlElicitationPresenter(ctx) if shows_urls else None

"""The emulator's tenant for ``--emulator --http-auth entra``: each person of the demo signs in and runs as themselves.

Its fake Entra (``entra``) is the tenant's authority, in this process: the server checks people's tokens against
its keys and exchanges them on their behalf with its on-behalf-of grant (``obo_grant``); the Dataverse emulator
behind it takes only those exchanged tokens (``signed_tokens``), so each run's ``createdby`` is its person. Alice and
Bob sign in at the server's own address, by name (any password):

    POST <server>/<tenant>/oauth2/v2.0/token
         grant_type=password&username=alice@contoso.example&password=demo&scope=api://<client id>/Flows.Run
"""

from __future__ import annotations

from dataclasses import dataclass

from .bearer import SignedTokens
from .entra import ALICE, BOB, DEMO_TENANT_ID, FakeEntra
from .obo_grant import OnBehalfOfGrant, dataverse_behind


@dataclass(frozen=True)
class DemoTenant:
    entra: FakeEntra
    grant: OnBehalfOfGrant
    signed_tokens: SignedTokens

    @classmethod
    def create(cls, client_id: str, app_id_uri: str) -> DemoTenant:
        entra = FakeEntra()
        grant = OnBehalfOfGrant(entra, client_id=client_id, app_id_uri=app_id_uri, sign_in_people=(ALICE, BOB))
        return cls(entra, grant.install(), dataverse_behind(entra))

    @property
    def sign_in_path(self) -> str:
        return f"/{DEMO_TENANT_ID}/oauth2/v2.0/token"

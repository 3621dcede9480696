"""In-process fakes of the services msal and the access tools talk to: Entra ID, IMDS, Global Discovery.

Each fake is a plain ``httpx`` handler (``request -> response``), so it plugs into ``httpx.MockTransport``
or respx, and into msal through ``MsalHttpClient``. No sockets, no sleeps.
"""

"""The Dataverse side: a typed Web API client with retries and rate limits."""

"""What a diagnosis of a desktop flow run knows without asking Dataverse: codes, licences, machine health.

Pure data and rules, no I/O and no imports beyond the standard library, so the diagnosis tools and their
tests can read it directly. ``knowledge`` is the public surface.
"""

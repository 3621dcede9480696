"""What the server knows without asking Dataverse: pure data and rules at the core, no I/O, standard library only.

    error_codes.py  every documented flowsession.errorcode: its meaning, the person's and the admin's fix
    labels.py       the labels of the option sets a diagnosis shows
    facts.py        the one import a diagnosis needs: codes, licences, the machine health rule, labels
    run_hints.py    the short hints a run read carries (reads the tables only when a run has failed)

Any layer may read these (models for a run's hint, diagnosis for a verdict); they read no layer. Import a module,
not this package: the tables load when first needed, not at start-up.
"""

"""Core of ``lowbit.formats``: format records, options, the registry, the codec dispatch,
``QArray``, packing and the backend module."""

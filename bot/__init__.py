"""qunbot core: normalized events, typed actions, rich text, dispatch and the composition root."""

__version__ = "0.1.0"

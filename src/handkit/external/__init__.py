"""handkit.external: optional third-party programs handkit drives (MediaPipe Hands,
in-process). Imports only `handkit.utils`."""

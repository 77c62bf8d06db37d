"""handkit.external: programs handkit drives in their own process (MediaPipe's side
interpreter). Imports only `handkit.utils`."""

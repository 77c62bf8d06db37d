"""One module per `handkit` verb; see `handkit.cli`."""

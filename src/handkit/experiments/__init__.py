"""End-to-end experiments built from the library: the demo and the SiMHand reproduction."""

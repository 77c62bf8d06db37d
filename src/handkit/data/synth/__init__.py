"""handkit.data.synth"""

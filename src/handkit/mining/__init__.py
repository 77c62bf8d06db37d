"""handkit.mining"""

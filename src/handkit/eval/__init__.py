"""handkit.eval"""

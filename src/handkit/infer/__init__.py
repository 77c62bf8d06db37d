"""handkit.infer"""

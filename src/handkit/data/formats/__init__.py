"""handkit.data.formats"""

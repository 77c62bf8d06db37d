"""handkit.models: backbones (registry), heads, RN_25D_wMLPref, minimal-hand DetNet, weight I/O."""

from handkit.models.backbones import Backbone, create_backbone, list_backbones, register_backbone
from handkit.models.heads import MLPHead, SimCLRHead

__all__ = ["Backbone", "create_backbone", "list_backbones", "register_backbone", "MLPHead",
           "SimCLRHead"]

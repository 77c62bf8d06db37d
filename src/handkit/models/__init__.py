"""handkit.models: backbones (registry), heads, RN_25D_wMLPref, minimal-hand DetNet, weight I/O."""

from handkit.models.backbones import Backbone, create_backbone, list_backbones, register_backbone
from handkit.models.heads import MLPHead, SimCLRHead
from handkit.models.minimal_hand import DetNet
from handkit.models.rn25d import RN25D
from handkit.models.weights import load_encoder, load_weights, save_torchvision

__all__ = ["Backbone", "create_backbone", "list_backbones", "register_backbone", "MLPHead",
           "SimCLRHead", "RN25D", "DetNet", "load_encoder", "load_weights", "save_torchvision"]

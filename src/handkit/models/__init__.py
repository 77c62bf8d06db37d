"""handkit.models: the model registry and prediction type, backbones, heads, RN_25D_wMLPref,
minimal-hand DetNet, SMHR, DIGIT, S2HAND, the hand detector, weight and checkpoint I/O."""

from handkit.models.backbones import Backbone, create_backbone, list_backbones, register_backbone
from handkit.models.digit import DigitModel
from handkit.models.encoders import load_encoder, save_torchvision
from handkit.models.hand_detector import HandDetector
from handkit.models.heads import MLPHead, SimCLRHead
from handkit.models.minimal_hand import DetNet
from handkit.models.posenet import DetNetPoseNet, PoseNet, RN25DPoseNet
from handkit.models.prediction import HandPrediction, Prediction
from handkit.models.registry import (ModelConfig, build_model, create_model, list_models,
                                     register_model)
from handkit.models.rn25d import RN25D
from handkit.models.s2hand import S2Hand
from handkit.models.smhr import SMHR
from handkit.models.weights import load_weights

__all__ = ["Backbone", "create_backbone", "list_backbones", "register_backbone", "MLPHead",
           "SimCLRHead", "RN25D", "DetNet", "load_encoder", "load_weights", "save_torchvision",
           "PoseNet", "RN25DPoseNet", "DetNetPoseNet", "HandPrediction", "Prediction",
           "ModelConfig", "build_model", "create_model", "list_models", "register_model", "SMHR",
           "DigitModel", "S2Hand", "HandDetector"]

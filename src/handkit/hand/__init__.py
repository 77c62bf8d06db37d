"""What a hand is: keypoint layout (skeleton), parametric hand models (model, openhand, mano)."""

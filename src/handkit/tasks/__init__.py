"""handkit.tasks: Lightning tasks; importing the package registers every training method."""

# each module registers its method
from handkit.tasks import digit, finetune, hand_detector, pretrain, s2hand, smhr  # noqa: F401

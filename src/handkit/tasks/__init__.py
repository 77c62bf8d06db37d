"""handkit.tasks: Lightning tasks; importing the package registers every training method."""

from handkit.tasks import digit, finetune, pretrain, s2hand  # noqa: F401  (each registers its method)

"""handkit.tasks: Lightning tasks; importing the package registers every training method."""

from handkit.tasks import digit, finetune, pretrain  # noqa: F401  (each registers its method)

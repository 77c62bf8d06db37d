"""`handkit train METHOD`: any registered training method (`handkit.tasks.registry`)."""

from __future__ import annotations

import argparse

from handkit.commands._training import add_training_arguments, training_config

HELP = "train any registered method (pretrain, finetune, ...) from its config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", metavar="METHOD",
                        help="a registered training method (handkit.tasks.registry.list_tasks())")
    add_training_arguments(parser, default_out=None, example_config="finetune/cpu_rn25d",
                           example_set="trainer.max_epochs=2")
    parser.add_argument("--mano", metavar="DIR",
                        help="your MANO folder (MANO_RIGHT.pkl / MANO_LEFT.pkl, or DIR/models/) "
                        "for methods that use MANO (s2hand, smhr): sets model.options.mano_dir "
                        "(default: the config's, else $HANDKIT_MANO_DIR; docs/mesh.md)")


def mano_flags(mano: str | None) -> dict[str, str]:
    """``--mano DIR`` → the config key it sets (the folder checked now, one clear error)."""
    if not mano:
        return {}
    from handkit.hand.mano_file import find_mano_dir

    return {"model.options.mano_dir": str(find_mano_dir(mano))}


def run(args: argparse.Namespace) -> int:
    import handkit.tasks  # noqa: F401  (importing the package registers every method)
    from handkit.tasks.registry import get_task

    spec = get_task(args.method)
    cfg = training_config(spec.config, spec.name, args, mano_flags(args.mano))
    out = args.out or f"runs/{spec.name}"
    product = spec(cfg, out, resume=args.resume)
    print(f"train {spec.name}: checkpoints in {out}/checkpoints, logs in {out}/logs; "
          f"result: {product}")
    return 0

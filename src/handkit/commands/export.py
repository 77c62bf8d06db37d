"""`handkit export`: a fine-tuned checkpoint → ONNX, or → a small packed checkpoint."""

from __future__ import annotations

import argparse

HELP = "export a fine-tuned checkpoint to ONNX (--onnx) or pack it small (--pack, int8/fp16)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", help="finetune checkpoint (default: the shipped one)")
    parser.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX model here")
    parser.add_argument("--check", action="store_true",
                        help="after --onnx, compare onnxruntime with torch on a random input")
    parser.add_argument("--pack", metavar="OUT.pt", help="write a packed checkpoint here "
                        "(no optimiser state; what `predict --ckpt` reads)")
    parser.add_argument("--decoding", default="inside", choices=["inside", "outside"],
                        help="SMHR checkpoints: decode the top-K hands in the graph (inside) or "
                        "export the network's maps only (outside); default %(default)s")
    parser.add_argument("--quantize", default="int8", choices=["none", "fp16", "int8"],
                        help="weights of --pack (default int8, per-channel scales)")


def run(args: argparse.Namespace) -> int:
    if not args.onnx and not args.pack:
        raise ValueError("nothing to do: pass --onnx OUT.onnx and/or --pack OUT.pt.")
    from handkit.utils.files import output_file

    for out in (args.pack, args.onnx):  # refused before loading or tracing anything
        if out:
            output_file(out)
    if args.pack:
        from handkit.models.checkpoint import pack_checkpoint

        if args.ckpt is None:
            raise ValueError("--pack needs --ckpt (the shipped checkpoint is already packed).")
        out = pack_checkpoint(args.ckpt, args.pack, args.quantize)
        print(f"export: packed {args.ckpt} → {out} ({out.stat().st_size / 1e6:.1f} MB, "
              f"{args.quantize})")
    if args.onnx and args.ckpt:
        from handkit.infer.predict_multihand import is_multihand_checkpoint

        if is_multihand_checkpoint(args.ckpt):
            from handkit.infer.export_multihand import compare_smhr_onnx, export_smhr_onnx

            out = export_smhr_onnx(args.ckpt, args.onnx, decoding=args.decoding)
            print(f"export: wrote {out} (decoding {args.decoding}; + {out.name}.json with the "
                  "input size, normalisation, outputs and score threshold)")
            if args.check:
                diffs = compare_smhr_onnx(args.ckpt, out)
                print("export: max |onnxruntime − torch| = " +
                      ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
            return 0
    if args.onnx:
        from handkit.infer.export import export_onnx

        out = export_onnx(args.ckpt, args.onnx)
        print(f"export: wrote {out} (+ {out.name}.json with input size and normalisation)")
        if args.check:
            from handkit.infer.export import compare_onnx

            print(f"export: max |onnxruntime − torch| = {compare_onnx(args.ckpt, out):.2e}")
    return 0

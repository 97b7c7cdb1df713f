"""Meta-train the MGDD generator across source datasets.

    python train_meta.py --sources glyphs shapes digits --steps 2000 --out runs/meta
    accelerate launch train_meta.py ...            # CPU, one GPU or several
    python train_meta.py ... --resume               # continue from runs/meta/state.safetensors
    python train_meta.py --out runs/meta --bundle mgdd-convnet-28   # ship OUT/model inside the package

The trained model is written to OUT/model (safetensors + config.json + model card).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from mgdd.data import load_dataset
from mgdd.generator.meta import BUNDLED_DIR, MetaGenerator
from mgdd.generator.meta_train import MetaTrainConfig, meta_train, resize_dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", nargs="+", default=["glyphs", "shapes", "digits"])
    parser.add_argument("--size", type=int, default=28, help="resize every source to SIZE x SIZE")
    parser.add_argument("--out", default="runs/meta")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--ipcs", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--min-classes", type=int, default=5)
    parser.add_argument("--max-classes", type=int, default=10)
    parser.add_argument("--real-per-class", type=int, default=32)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--pool-size", type=int, default=4, help="random feature nets per source (0: fresh each step)")
    parser.add_argument("--pool-per-class", type=int, default=64, help="cached real samples per class")
    parser.add_argument("--pool-refresh", type=int, default=100, help="redraw the pools every N steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--code-dim", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--feature-width", type=int, default=128)
    parser.add_argument("--unroll", type=int, default=1, help="guided generator steps per call (model config)")
    parser.add_argument("--no-clamp", action="store_true",
                        help="do not clamp generated pixels to the data range (model config)")
    parser.add_argument("--mean-weight", type=float, default=0.0, help="weight of DM's class-mean term in the loss")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="force the CPU even if a GPU is present")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--bundle", metavar="NAME", default=None,
                        help="only copy OUT/model into the package as the bundled model NAME (and its card "
                             "into model_cards/NAME.md); no training")
    return parser.parse_args(argv)


def bundle(model_dir: Path, name: str) -> None:
    """Ship a trained model with the package: mgdd/pretrained/NAME and model_cards/NAME.md."""
    model = MetaGenerator.from_pretrained(model_dir)
    target = BUNDLED_DIR / name
    model.save_pretrained(target, model_card_kwargs={"repo_id": name})
    shutil.copyfile(target / "README.md", Path(__file__).resolve().parent / "model_cards" / f"{name}.md")
    print(f"bundled {model_dir} as {target}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.bundle:
        bundle(Path(args.out) / "model", args.bundle)
        return
    sources = [resize_dataset(load_dataset(name, "train"), args.size) for name in args.sources]
    channels = {s.channels for s in sources}
    if len(channels) != 1:
        raise SystemExit(f"error: sources differ in channel count {sorted(channels)}")
    model = MetaGenerator(
        channels=channels.pop(), width=args.width, code_dim=args.code_dim, blocks=args.blocks,
        feature_width=args.feature_width, unroll=args.unroll, clamp_output=not args.no_clamp,
    )
    model.provenance["train_image_size"] = args.size
    config = MetaTrainConfig(
        steps=args.steps, lr=args.lr, ipcs=tuple(args.ipcs), min_classes=args.min_classes,
        max_classes=args.max_classes, real_per_class=args.real_per_class, save_every=args.save_every,
        pool_size=args.pool_size, pool_per_class=args.pool_per_class, pool_refresh=args.pool_refresh,
        mean_weight=args.mean_weight, seed=args.seed, sources=list(args.sources),
    )
    meta_train(model, sources, args.out, config, resume=args.resume, cpu=args.cpu, progress=not args.no_progress)
    print(f"meta-trained model written to {args.out}/model")


if __name__ == "__main__":
    main()
